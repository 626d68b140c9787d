// Counters and histograms under the names docs/design.md fixes. Kept as plain numbers on the hot path
// (a Map lookup and an add); turned into metric families only when someone reads them, so the
// arbiter carries metrics without a prom-client dependency (see metrics-prom.ts for the adapter).

import { Outcomes, type Outcome } from '../policy/outcome';

export { Outcomes, type Outcome };

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

/** @internal */
export class Histogram {
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
    return this.bounds.map((le, i) => {
      acc += this.counts[i]!;
      return [le, acc];
    });
  }
}

/** Per-task outcome counts, as plain data. */
export type TaskCounters = Record<Outcome, number> & { watchdog: number };

/** @internal Everything counted for one task; looked up once per acquire and once per release. */
export class TaskStats {
  readonly outcomes: Record<Outcome, number> = Object.fromEntries(Outcomes.map((o) => [o, 0])) as Record<Outcome, number>;
  readonly wait = new Histogram(WAIT_BUCKETS);
  readonly hold = new Histogram(HOLD_BUCKETS);
  watchdog = 0;
}

/** @internal The arbiter's own counters (GPU gauges come from the monitor at read time). */
export class ArbiterMetrics {
  private readonly byTask = new Map<string, TaskStats>();
  releaseFailures = 0;
  ownershipViolations = 0;
  leaseLost = 0;
  /** Renewals of remote holds that failed (each failed try; the holds are not lost yet). */
  renewalFailures = 0;
  /** Remote backends only: 1 while the ledger is reachable, 0 while not; null: not remote. */
  backendAvailable: number | null = null;

  /** The stats of a task, created on first use. */
  stats(task: string): TaskStats {
    let s = this.byTask.get(task);
    if (s === undefined) {
      s = new TaskStats();
      this.byTask.set(task, s);
    }
    return s;
  }

  countOutcome(task: string, outcome: Outcome): void {
    this.stats(task).outcomes[outcome]++;
  }

  countWatchdog(task: string): void {
    this.stats(task).watchdog++;
  }

  /** Outcome counts for one task (zeros included). */
  taskCounters(task: string): TaskCounters {
    const s = this.byTask.get(task);
    const out = { ...(s?.outcomes ?? new TaskStats().outcomes) } as TaskCounters;
    out.watchdog = s?.watchdog ?? 0;
    return out;
  }

  /** Tasks with any recorded activity. */
  tasks(): string[] {
    return [...this.byTask.keys()];
  }

  /** The arbiter's own families (acquire, wait, hold, watchdog, release failures, violations, lost). */
  families(): MetricFamily[] {
    const acquire: CounterFamily = {
      name: 'gpu_arbiter_acquire_total',
      help: 'Requests for a task by how they ended',
      type: 'counter',
      samples: [],
    };
    const watchdog: CounterFamily = {
      name: 'gpu_arbiter_watchdog_exceeded_total',
      help: 'Leases held past their holdMaxMs',
      type: 'counter',
      samples: [],
    };
    const wait: HistogramFamily = {
      name: 'gpu_arbiter_queue_wait_seconds',
      help: 'Time from request to grant',
      type: 'histogram',
      samples: [],
    };
    const hold: HistogramFamily = {
      name: 'gpu_arbiter_hold_seconds',
      help: 'Time from grant to release',
      type: 'histogram',
      samples: [],
    };
    for (const [task, s] of this.byTask) {
      for (const o of Outcomes) if (s.outcomes[o] > 0) acquire.samples.push({ labels: { task, outcome: o }, value: s.outcomes[o] });
      if (s.watchdog > 0) watchdog.samples.push({ labels: { task }, value: s.watchdog });
      for (const [fam, h] of [
        [wait, s.wait],
        [hold, s.hold],
      ] as const) {
        if (h.count > 0) fam.samples.push({ labels: { task }, buckets: h.cumulative(), sum: h.sum, count: h.count });
      }
    }
    const single = (name: string, help: string, value: number): CounterFamily => ({
      name,
      help,
      type: 'counter',
      samples: [{ labels: {}, value }],
    });
    return [
      acquire,
      wait,
      hold,
      watchdog,
      single('gpu_arbiter_release_failures_total', 'Releases the backend failed to apply', this.releaseFailures),
      single('gpu_arbiter_ownership_violations_total', 'Releases with a wrong token, refused', this.ownershipViolations),
      single('gpu_arbiter_lease_lost_total', 'Leases revoked or lost by the backend', this.leaseLost),
      ...(this.backendAvailable === null
        ? []
        : [
            single('gpu_arbiter_renewal_failures_total', 'Renewals of remote holds that failed (not lost yet)', this.renewalFailures),
            {
              ...single('gpu_arbiter_backend_available', '1 while the remote ledger (Redis) is reachable, else 0', this.backendAvailable),
              type: 'gauge' as const,
            },
          ]),
    ];
  }
}
