// Issue 18, part 2: the arbiter's metrics through an OpenTelemetry Meter (SDK MeterProvider with
// the in-memory exporter), under the Prometheus families' names and labels.
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { MetricFamily } from '../src/metrics/counters';
import { HOLD_BUCKETS, WAIT_BUCKETS } from '../src/metrics/counters';
import { closeAfterEach } from './helpers/close-after-each';
import { fakeGpus, GiB, OUTSIDER } from './helpers/fake-monitor';

const arbiters = closeAfterEach<GpuArbiter>();
let provider: MeterProvider | null = null;
afterEach(async () => {
  await provider?.shutdown();
  provider = null;
  metrics.disable();
});

function meterSetup(): { exporter: InMemoryMetricExporter; reader: PeriodicExportingMetricReader; provider: MeterProvider } {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // A long interval: the test collects with forceFlush(), never on a timer.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  provider = new MeterProvider({ readers: [reader] });
  return { exporter, reader, provider };
}

async function collect(exporter: InMemoryMetricExporter, reader: PeriodicExportingMetricReader): Promise<Map<string, MetricData>> {
  exporter.reset();
  await reader.forceFlush();
  const out = new Map<string, MetricData>();
  for (const rm of exporter.getMetrics()) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) out.set(m.descriptor.name, m);
  return out;
}

async function make(otel: unknown): Promise<GpuArbiter> {
  const a = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB, gpuPercent: 40, processes: [{ pid: OUTSIDER, usedMiB: 2 * GiB }] }),
    maxFraction: 1,
    policies: {
      ASR: { priority: 90, vramMiB: 8 * GiB },
      REPAIR: { priority: 20, vramMiB: 8 * GiB, busyPolicy: 'SKIP' },
    },
    otel: otel as never,
  });
  arbiters.push(a);
  return a;
}

/** A family's samples as "labels=value" strings, for comparing with the OTel data points. */
function promPoints(f: MetricFamily): string[] {
  if (f.type === 'histogram') return f.samples.map((s) => `${JSON.stringify(s.labels)}=${s.count}/${s.sum}`);
  return f.samples.map((s) => `${JSON.stringify(s.labels)}=${s.value}`).sort();
}

function otelPoints(m: MetricData): string[] {
  if (m.dataPointType === DataPointType.HISTOGRAM) {
    return m.dataPoints.map((p) => `${JSON.stringify(p.attributes)}=${(p.value as Histogram).count}/${(p.value as Histogram).sum}`);
  }
  return m.dataPoints.map((p) => `${JSON.stringify(p.attributes)}=${p.value as number}`).sort();
}

describe('OpenTelemetry metrics', () => {
  it('exports every Prometheus family under its name, with the same labels and values', async () => {
    const { exporter, reader, provider } = meterSetup();
    const a = await make({ meter: provider.getMeter('test'), tracer: false });
    const first = await a.acquire('ASR');
    // REPAIR is SKIP: with 8 GiB held and 2 GiB used outside, 8 GiB does not fit: skipped.
    expect(await a.run('REPAIR', () => 1)).toMatchObject({ status: 'skipped' });
    // A waiter, so the queue gauge has a sample.
    const waiting = a.acquire('ASR');
    await first.release();
    const second = await waiting;
    const queued = a.acquire('ASR', { maxWaitMs: 60_000 });
    queued.catch(() => undefined); // settled at the end; a failure above must not leave it unhandled
    const got = await collect(exporter, reader);
    const families = a.metrics();
    // A family with no sample (no watchdog fired) has no data point, so the SDK exports no metric.
    const withSamples = families.filter((f) => f.samples.length > 0);
    expect(families.length - withSamples.length).toBe(1);
    expect([...got.keys()].sort()).toEqual(withSamples.map((f) => f.name).sort());
    for (const f of withSamples) {
      const m = got.get(f.name)!;
      const points = otelPoints(m);
      // Zero-valued single counters (no release failures) are observed as 0 too.
      expect({ name: f.name, points }).toEqual({ name: f.name, points: promPoints(f) });
      const kind = { counter: DataPointType.SUM, gauge: DataPointType.GAUGE, histogram: DataPointType.HISTOGRAM }[f.type];
      expect({ name: f.name, kind: m.dataPointType }).toEqual({ name: f.name, kind });
    }
    expect(otelPoints(got.get('gpu_arbiter_queue_length')!)).toEqual(['{"resource":"gpu:0"}=1']);
    expect(otelPoints(got.get('gpu_arbiter_acquire_total')!)).toEqual(
      ['{"task":"ASR","outcome":"acquired"}=2', '{"task":"REPAIR","outcome":"skipped"}=1'].sort(),
    );
    expect(otelPoints(got.get('gpu_memory_used_bytes')!)).toEqual([`{"gpu":"0"}=${2 * GiB * 1024 * 1024}`]);
    expect(otelPoints(got.get('gpu_utilization_ratio')!)).toEqual(['{"gpu":"0"}=0.4']);
    await second.release();
    await (await queued).release();
  });

  it('records wait and hold histograms with the Prometheus buckets and units', async () => {
    const { exporter, reader, provider } = meterSetup();
    const a = await make({ meter: provider.getMeter('test'), tracer: false });
    for (let i = 0; i < 3; i++) await (await a.acquire('ASR')).release();
    const got = await collect(exporter, reader);
    const wait = got.get('gpu_arbiter_queue_wait_seconds')!;
    const hold = got.get('gpu_arbiter_hold_seconds')!;
    expect(wait.descriptor.unit).toBe('s');
    expect(hold.descriptor.unit).toBe('s');
    expect(got.get('gpu_memory_total_bytes')!.descriptor.unit).toBe('By');
    const w = wait.dataPoints[0]!.value as Histogram;
    const h = hold.dataPoints[0]!.value as Histogram;
    expect(wait.dataPoints[0]!.attributes).toEqual({ task: 'ASR' });
    expect(w.buckets.boundaries).toEqual(WAIT_BUCKETS);
    expect(h.buckets.boundaries).toEqual(HOLD_BUCKETS);
    expect([w.count, h.count]).toEqual([3, 3]);
    const prom = a.metrics().find((f) => f.name === 'gpu_arbiter_hold_seconds')!;
    expect(prom.type === 'histogram' && prom.samples[0]!.sum).toBe(h.sum);
  });

  it('otel: true uses the global MeterProvider (meter "gpu-arbiter")', async () => {
    const { exporter, reader, provider } = meterSetup();
    metrics.setGlobalMeterProvider(provider);
    const a = await make(true);
    await (await a.acquire('ASR')).release();
    exporter.reset();
    await reader.forceFlush();
    const scopes = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics);
    expect(scopes.map((s) => s.scope.name)).toEqual(['gpu-arbiter']);
    const acquire = scopes[0]!.metrics.find((m) => m.descriptor.name === 'gpu_arbiter_acquire_total')!;
    expect(otelPoints(acquire)).toEqual(['{"task":"ASR","outcome":"acquired"}=1']);
  });

  it('stops recording when the arbiter closes', async () => {
    const { exporter, reader, provider } = meterSetup();
    const a = await make({ meter: provider.getMeter('test'), tracer: false });
    await (await a.acquire('ASR')).release();
    expect(a.listenerCount('acquired')).toBe(1);
    await a.close();
    expect([a.listenerCount('acquired'), a.listenerCount('released')]).toEqual([0, 0]);
    const got = await collect(exporter, reader);
    // The observable instruments have no callback left: nothing is observed for them.
    expect(got.get('gpu_arbiter_acquire_total')?.dataPoints ?? []).toEqual([]);
  });

  it('refuses a bad otel option with E_INVALID_ARGUMENT naming the field', async () => {
    await expect(make({ meter: {} })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', details: { field: 'options.otel.meter' } });
    await expect(make({ tracer: 1 })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', details: { field: 'options.otel.tracer' } });
    await expect(make({ metre: 1 })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', details: { field: 'options.otel.metre' } });
    await expect(make('yes')).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', details: { field: 'options.otel' } });
  });
});
