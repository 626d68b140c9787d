// OpenTelemetry: the spans and metrics of GPU requests, printed from the SDK's in-memory
// exporters (a real service registers its OTLP exporters the same way). The GPU is simulated.
//   node examples/otel.js        (after npm install; README "OpenTelemetry")
const { context, trace } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { GpuArbiter, SimulatedGpu } = require('..');

async function main() {
  // What an application's tracing setup does once at start-up.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const spans = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  const metricsOut = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricsOut, exportIntervalMillis: 60_000 });
  const meters = new MeterProvider({ readers: [reader] });

  const arbiter = await GpuArbiter.create({
    monitor: new SimulatedGpu([{ totalMiB: 16384 }]),
    policies: { ASR: { priority: 90, vramMiB: 2500 } },
    otel: { meter: meters.getMeter('my-service') }, // spans: the global tracer ('gpu-arbiter')
  });

  // A request handler's span; the GPU wait and hold show up inside it.
  const tracer = trace.getTracer('my-service');
  await tracer.startActiveSpan('POST /transcribe', async (request) => {
    await arbiter.run('ASR', async () => {
      tracer.startSpan('asr inference').end(); // the work: a child of gpu.lease
    });
    request.end();
  });

  const byId = new Map(spans.getFinishedSpans().map((s) => [s.spanContext().spanId, s]));
  for (const s of spans.getFinishedSpans()) {
    const parent = byId.get(s.parentSpanContext?.spanId)?.name ?? '(root)';
    const attrs = ['gpu.task', 'gpu.outcome', 'gpu.vram.requested_mib'].filter((k) => k in s.attributes).map((k) => `${k}=${s.attributes[k]}`);
    console.log(`${parent} > ${s.name}${attrs.length > 0 ? ` [${attrs.join(' ')}]` : ''}`);
  }

  await reader.forceFlush();
  const [last] = metricsOut.getMetrics().slice(-1);
  for (const m of last.scopeMetrics[0].metrics) {
    if (m.descriptor.name !== 'gpu_arbiter_acquire_total' && m.descriptor.name !== 'gpu_arbiter_hold_seconds') continue;
    for (const p of m.dataPoints) {
      const labels = Object.entries(p.attributes)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      console.log(`${m.descriptor.name}{${labels}} ${typeof p.value === 'number' ? p.value : `count=${p.value.count}`}`);
    }
  }
  await arbiter.close();
  await meters.shutdown();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
