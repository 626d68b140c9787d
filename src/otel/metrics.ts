// The arbiter's metrics through an OpenTelemetry Meter, under the names and labels of the
// Prometheus families (metrics/counters.ts, metrics/gpu-families.ts): the instruments are made
// from the families arbiter.metrics() returns, so the two outputs cannot drift apart.
// Counters and gauges are observable (read from the arbiter's own counts at collection, as the
// prom-client adapter does: one source of truth); the wait and hold histograms are recorded at
// each grant and release, with the Prometheus buckets as advice.
import type { EventEmitter } from 'node:events';
import type { BatchObservableResult, Histogram, Meter, Observable } from '@opentelemetry/api';
import type { Lease } from '../arbiter/lease';
import { HOLD_BUCKETS, type MetricFamily, WAIT_BUCKETS } from '../metrics/counters';

const WAIT = 'gpu_arbiter_queue_wait_seconds';
const HOLD = 'gpu_arbiter_hold_seconds';

/** What the metrics read from the arbiter: its families and its grant/release events. */
export interface MeteredArbiter extends Pick<EventEmitter, 'on' | 'off'> {
  metrics(): MetricFamily[];
}

/** The unit OpenTelemetry expects, from the Prometheus name's suffix. */
function unitOf(name: string): string | undefined {
  if (name.endsWith('_seconds')) return 's';
  if (name.endsWith('_bytes')) return 'By';
  if (name.endsWith('_ratio')) return '1';
  return undefined;
}

/** @internal */
export class OtelMetrics {
  private readonly observables = new Map<string, Observable>();
  private readonly wait: Histogram;
  private readonly hold: Histogram;

  constructor(
    private readonly meter: Meter,
    private readonly arbiter: MeteredArbiter,
  ) {
    const families = arbiter.metrics();
    const help = (name: string): string => families.find((f) => f.name === name)?.help ?? name;
    this.wait = meter.createHistogram(WAIT, { description: help(WAIT), unit: 's', advice: { explicitBucketBoundaries: WAIT_BUCKETS } });
    this.hold = meter.createHistogram(HOLD, { description: help(HOLD), unit: 's', advice: { explicitBucketBoundaries: HOLD_BUCKETS } });
    for (const f of families) {
      if (f.type === 'histogram') continue;
      const options = { description: f.help, ...(unitOf(f.name) === undefined ? {} : { unit: unitOf(f.name) }) };
      this.observables.set(f.name, f.type === 'counter' ? meter.createObservableCounter(f.name, options) : meter.createObservableGauge(f.name, options));
    }
    meter.addBatchObservableCallback(this.collect, [...this.observables.values()]);
    arbiter.on('acquired', this.onAcquired);
    arbiter.on('released', this.onReleased);
  }

  /** One read of arbiter.metrics() serves every observable instrument of a collection. */
  private readonly collect = (result: BatchObservableResult): void => {
    for (const f of this.arbiter.metrics()) {
      const observable = this.observables.get(f.name);
      if (observable === undefined || f.type === 'histogram') continue;
      for (const s of f.samples) result.observe(observable, s.value, s.labels);
    }
  };

  private readonly onAcquired = (lease: Lease): void => {
    this.wait.record(lease.waitedMs / 1000, { task: lease.task });
  };

  private readonly onReleased = (lease: Lease, heldMs: number): void => {
    this.hold.record(heldMs / 1000, { task: lease.task });
  };

  close(): void {
    this.arbiter.off('acquired', this.onAcquired);
    this.arbiter.off('released', this.onReleased);
    this.meter.removeBatchObservableCallback(this.collect, [...this.observables.values()]);
  }
}
