'use strict';
// Child of bench/otel-overhead.js: times N uncontended acquire+release pairs through GpuArbiter
// (backend 'local', one simulated 16 GiB GPU) in one OpenTelemetry mode, then prints JSON:
//   off      no `otel` option (what every user without OpenTelemetry runs)
//   no-sdk   otel: true with @opentelemetry/api loaded but no SDK registered (no-op meter/tracer)
//   sdk      otel: true under an SDK: MeterProvider (in-memory exporter, collected at the end) and
//            BasicTracerProvider (every span sampled, exported to a no-op exporter), with the
//            AsyncLocalStorage context manager
const path = require('node:path');

function setupSdk() {
  const api = require('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = require('@opentelemetry/sdk-metrics');
  const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  api.metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  let spans = 0;
  const exporter = {
    export(batch, done) {
      spans += batch.length;
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
  };
  api.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  return { spans: () => spans, collect: () => reader.forceFlush() };
}

async function main() {
  const [mode, nText] = process.argv.slice(2);
  const n = Number(nText);
  const sdk = mode === 'sdk' ? setupSdk() : null;
  const { GpuArbiter, SimulatedGpu } = require(path.join(__dirname, '..', '..', 'dist'));
  const arbiter = await GpuArbiter.create({
    monitor: new SimulatedGpu([{ totalMiB: 16384 }]),
    maxFraction: 1,
    policies: { T: { priority: 50, vramMiB: 16384 } },
    ...(mode === 'off' ? {} : { otel: true }),
  });
  for (let i = 0; i < n / 10; i++) await (await arbiter.acquire('T')).release(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await (await arbiter.acquire('T')).release();
  const us = Number(process.hrtime.bigint() - t0) / n / 1000;
  // The SDK did the work it was asked for: two spans per pair, and a collection that reads the metrics.
  if (sdk !== null) {
    await sdk.collect();
    if (sdk.spans() !== 2 * (n + n / 10)) throw new Error(`expected ${2 * (n + n / 10)} spans, got ${sdk.spans()}`);
  }
  await arbiter.close();
  const otelLoaded = Object.keys(require.cache).some((f) => f.includes('/node_modules/@opentelemetry/'));
  process.stdout.write(`${JSON.stringify({ us, otelLoaded })}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
