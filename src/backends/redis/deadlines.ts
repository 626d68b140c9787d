// One timer for every command's deadline. A Redis command in flight is given up (its promise
// rejected) when it has not settled by its deadline; a setTimeout and clearTimeout per command
// cost more than the command's own work on the client. Here each command only joins and leaves
// a set; one timer is armed for the earliest deadline and, when it fires, fails what is due and
// arms itself for the next. A deadline is never missed: a command joining with an earlier
// deadline than the one armed re-arms the timer.
import { performance } from 'node:perf_hooks';

interface Pending {
  at: number;
  fail: () => void;
}

export class Deadlines {
  private readonly pending = new Set<Pending>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  /**
   * Settles like `p`, or rejects with `onTimeout()` when `p` has not settled within `ms`
   * (as settleWithin() in ./connection.ts does with a timer of its own).
   */
  within<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { at: performance.now() + ms, fail: () => reject(onTimeout()) };
      this.pending.add(entry);
      if (entry.at < this.timerAt) this.arm(entry.at);
      p.then(
        (v) => {
          this.pending.delete(entry);
          resolve(v);
        },
        (e: unknown) => {
          this.pending.delete(entry);
          reject(e);
        },
      );
    });
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.ceil(at - performance.now())));
    // An idle process is not held open by a deadline: the command itself keeps it alive.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const entry of this.pending) {
      if (entry.at <= now) {
        this.pending.delete(entry);
        entry.fail();
      } else if (entry.at < next) {
        next = entry.at;
      }
    }
    if (next < Infinity) this.arm(next);
  }
}
