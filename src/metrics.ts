// Counters and histograms under the names DESIGN.md fixes. Kept as plain numbers on the hot path
// (a Map lookup and an add); turned into metric families only when someone reads them, so the
// arbiter carries metrics without a prom-client dependency (see metrics-prom.ts for the adapter).

/** How one request for a task ended; the `outcome` label of gpu_arbiter_acquire_total. */
export const Outcomes = [
  'acquired',
  'timeout',
  'aborted',
  'busy',
  'queue-full',
  'does-not-fit',
  'no-device',
  'skipped',
  'fell-back',
  'error',
] as const;
export type Outcome = (typeof Outcomes)[number];

/** Seconds; covers a fast handoff (1 ms) to a long inference hold (5 min). */
export const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const HOLD_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export type Labels = Record<string, string>;

export interface CounterFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: Array<{ labels: Labels; value: number }>;
}

export interface HistogramFamily {
  name: string;
  help: string;
  type: 'histogram';
  /** `buckets`: [upper bound, cumulative count]; the +Inf bucket equals `count`. */
  samples: Array<{ labels: Labels; buckets: Array<[number, number]>; sum: number; count: number }>;
}

export type MetricFamily = CounterFamily | HistogramFamily;

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
  cumulative(): Array<[number, number]> {
    let acc = 0;
    return this.bounds.map((le, i) => [le, (acc += this.counts[i]!)]);
  }
}

/** Per-task outcome counts, as plain data. */
export type TaskCounters = Record<Outcome, number> & { watchdog: number };

/** The arbiter's own counters (GPU gauges come from the monitor at read time). */
export class ArbiterMetrics {
  private readonly acquire = new Map<string, Map<Outcome, number>>();
  private readonly queueWait = new Map<string, Histogram>();
  private readonly hold = new Map<string, Histogram>();
  private readonly watchdog = new Map<string, number>();
  releaseFailures = 0;
  ownershipViolations = 0;
  leaseLost = 0;

  countOutcome(task: string, outcome: Outcome): void {
    let m = this.acquire.get(task);
    if (m === undefined) this.acquire.set(task, (m = new Map()));
    m.set(outcome, (m.get(outcome) ?? 0) + 1);
  }

  observeWait(task: string, seconds: number): void {
    let h = this.queueWait.get(task);
    if (h === undefined) this.queueWait.set(task, (h = new Histogram(WAIT_BUCKETS)));
    h.observe(seconds);
  }

  observeHold(task: string, seconds: number): void {
    let h = this.hold.get(task);
    if (h === undefined) this.hold.set(task, (h = new Histogram(HOLD_BUCKETS)));
    h.observe(seconds);
  }

  countWatchdog(task: string): void {
    this.watchdog.set(task, (this.watchdog.get(task) ?? 0) + 1);
  }

  /** Outcome counts for one task (zeros included). */
  taskCounters(task: string): TaskCounters {
    const out = Object.fromEntries(Outcomes.map((o) => [o, 0])) as TaskCounters;
    for (const [o, n] of this.acquire.get(task) ?? []) out[o] = n;
    out.watchdog = this.watchdog.get(task) ?? 0;
    return out;
  }

  /** Tasks with any recorded activity. */
  tasks(): string[] {
    return [...new Set([...this.acquire.keys(), ...this.watchdog.keys(), ...this.queueWait.keys()])];
  }

  /** The arbiter's own families (acquire, wait, hold, watchdog, release failures, violations, lost). */
  families(): MetricFamily[] {
    const acquire: CounterFamily = {
      name: 'gpu_arbiter_acquire_total',
      help: 'Requests for a task by how they ended',
      type: 'counter',
      samples: [],
    };
    for (const [task, m] of this.acquire) for (const [outcome, value] of m) acquire.samples.push({ labels: { task, outcome }, value });
    const histo = (name: string, help: string, src: Map<string, Histogram>): HistogramFamily => ({
      name,
      help,
      type: 'histogram',
      samples: [...src].map(([task, h]) => ({ labels: { task }, buckets: h.cumulative(), sum: h.sum, count: h.count })),
    });
    const single = (name: string, help: string, value: number): CounterFamily => ({
      name,
      help,
      type: 'counter',
      samples: [{ labels: {}, value }],
    });
    return [
      acquire,
      histo('gpu_arbiter_queue_wait_seconds', 'Time from request to grant', this.queueWait),
      histo('gpu_arbiter_hold_seconds', 'Time from grant to release', this.hold),
      {
        name: 'gpu_arbiter_watchdog_exceeded_total',
        help: 'Leases held past their holdMaxMs',
        type: 'counter',
        samples: [...this.watchdog].map(([task, value]) => ({ labels: { task }, value })),
      },
      single('gpu_arbiter_release_failures_total', 'Releases the backend failed to apply', this.releaseFailures),
      single('gpu_arbiter_ownership_violations_total', 'Releases with a wrong token, refused', this.ownershipViolations),
      single('gpu_arbiter_lease_lost_total', 'Leases revoked or lost by the backend', this.leaseLost),
    ];
  }
}
