// What a polled ledger (this host's shared memory, a Redis namespace) does not keep but the charts
// and ETAs need: grants since the last poll, their waits, and recent hold times. Learned by
// comparing one poll with the next, so it is only as fine as the poll: a hold that began and
// ended between two polls is not seen, and only the waits of grants seen queued at a poll are
// known (a grant made at once, or queued for less than a poll, adds no wait).
import { estimateWait, HoldHistory } from '../observe/eta';
import type { QueueRow } from './types';

export interface SeenHolder {
  /** Stays the same from waiting to holding (the lease id, where the label carries one). */
  key: string;
  task: string;
  grantedAt: number;
}

export interface SeenWaiter {
  key: string;
  enqueuedAt: number;
}

export class PollTracker {
  readonly holds = new HoldHistory();
  #holding = new Map<string, SeenHolder>();
  #waiting = new Map<string, number>();
  #primed = false;
  #count = 0;
  #waits: number[] = [];

  /** One poll's holders and waiters (every resource); `now` on the ledger's clock. */
  observe(holders: readonly SeenHolder[], waiters: readonly SeenWaiter[], now: number): void {
    const current = new Map(holders.map((h) => [h.key, h]));
    for (const [key, h] of this.#holding) if (!current.has(key)) this.holds.record(h.task, Math.max(0, now - h.grantedAt));
    // The first poll finds holds granted before the dashboard started: not grants of this chart.
    if (this.#primed) {
      for (const h of holders) {
        if (this.#holding.has(h.key)) continue;
        this.#count++;
        const enqueued = this.#waiting.get(h.key);
        if (enqueued !== undefined) this.#waits.push(Math.max(0, h.grantedAt - enqueued));
      }
    }
    this.#primed = true;
    this.#holding = current;
    this.#waiting = new Map(waiters.map((w) => [w.key, w.enqueuedAt]));
  }

  /** Grants seen since the last call; `exactCount` replaces the count where the ledger counts its grants. */
  take(exactCount?: number): { count: number; waitsMs: number[] } {
    const taken = { count: exactCount ?? this.#count, waitsMs: this.#waits };
    this.#count = 0;
    this.#waits = [];
    return taken;
  }

  /** Each waiter's ETA (queue order), replaying its resource's queue with the recent hold times (src/observe/eta.ts). */
  etas(budget: number, holders: ReadonlyArray<{ vramMiB: number; task: string; heldMs: number }>, queue: ReadonlyArray<Omit<QueueRow, 'etaMs'>>): QueueRow[] {
    const expected = (task: string) => this.holds.expected(task);
    const held = holders.map((h) => ({ units: h.vramMiB, task: h.task, heldMs: h.heldMs }));
    return queue.map((w, i) => ({
      ...w,
      etaMs: estimateWait(
        {
          budget,
          holders: held,
          ahead: queue.slice(0, i).map((a) => ({ units: a.vramMiB, task: a.task })),
          me: { units: w.vramMiB },
        },
        expected,
      ),
    }));
  }
}
