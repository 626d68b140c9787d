// Queue position and ETA: an estimate of a waiter's wait from the recent hold times of the tasks
// ahead of it. Each task keeps its last holds; a wait is estimated by replaying the GPU's queue
// (strict order, as the backend grants) with each holder's expected remaining hold and each
// waiter's expected hold (the median of its task's recent holds).

const KEEP = 64;

/**
 * The last KEEP values, overwritten in a ring: record() runs on every release, and pushing onto
 * an array and shift()ing the oldest off measured as a tenth of the uncontended acquire+release
 * (bench/local-contention.js).
 */
class Recent {
  private readonly values = new Float64Array(KEEP);
  private next = 0;
  size = 0;

  push(v: number): void {
    this.values[this.next] = v;
    this.next = this.next === KEEP - 1 ? 0 : this.next + 1;
    if (this.size < KEEP) this.size++;
  }

  /** The values, in no particular order. */
  toArray(): number[] {
    return Array.from(this.values.subarray(0, this.size));
  }
}

/** @internal Recent hold times per task (ms). */
export class HoldHistory {
  private readonly byTask = new Map<string, Recent>();
  private readonly all = new Recent();

  record(task: string, heldMs: number): void {
    let list = this.byTask.get(task);
    if (list === undefined) {
      list = new Recent();
      this.byTask.set(task, list);
    }
    list.push(heldMs);
    this.all.push(heldMs);
  }

  /** Median recent hold of `task`; of any task when it has none; null with no history at all. */
  expected(task: string): number | null {
    const list = this.byTask.get(task);
    const src = list !== undefined && list.size > 0 ? list : this.all;
    if (src.size === 0) return null;
    const sorted = src.toArray().sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  }

  /** How many holds of `task` the estimate rests on. */
  samples(task: string): number {
    return this.byTask.get(task)?.size ?? 0;
  }
}

export interface EtaInput {
  /** Units that may be granted (capacity - external). */
  budget: number;
  holders: Array<{ units: number; task: string; heldMs: number }>;
  /** Waiters ahead of the request, in queue order. */
  ahead: Array<{ units: number; task: string }>;
  me: { units: number };
}

/** Estimated ms until `me` is granted; null when some hold time cannot be estimated. */
export function estimateWait(input: EtaInput, expected: (task: string) => number | null): number | null {
  const running: Array<{ end: number; units: number }> = [];
  let used = 0;
  for (const h of input.holders) {
    const e = expected(h.task);
    if (e === null) return null;
    // A holder already past its expected hold is expected to end soon: a tenth of it from now.
    running.push({ end: Math.max(e - h.heldMs, e * 0.1), units: h.units });
    used += h.units;
  }
  const queue: Array<{ units: number; hold: number | null }> = input.ahead.map((w) => ({ units: w.units, hold: expected(w.task) }));
  queue.push({ units: input.me.units, hold: 0 });
  let t = 0;
  for (const next of queue) {
    if (next.hold === null) return null;
    // Strict order: the next waiter starts once enough units are free.
    while (used + next.units > input.budget && running.length > 0) {
      running.sort((a, b) => a.end - b.end);
      const done = running.shift()!;
      t = Math.max(t, done.end);
      used -= done.units;
    }
    if (next === queue[queue.length - 1]) return Math.round(t);
    running.push({ end: t + next.hold, units: next.units });
    used += next.units;
  }
  return Math.round(t);
}
