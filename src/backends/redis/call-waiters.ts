// What the waiters that call one script as their request, heartbeat and poll share: set requests
// (./set-waiters.ts, ACQUIRE_SET) and cluster-scope requests (./pool-waiters.ts, POOL_ACQUIRE).
// The waiting map, the abort and deadline hooks, the poll scheduling, the late-grant retries and
// giving up; each subclass writes its call (poll) and how it leaves the queue (leave).
import { newId } from './ids';
import { performance } from 'node:perf_hooks';
import type { GpuArbiterError } from '../../errors';
import { unavailable } from './connection';
import type { LeasesCore } from './core';
import { abortedError, asUnavailable, timeoutError } from './replies';
import type { CheckedRequest } from './request';
import { MAX_LATE_TRIES, mayRetryLate, pollLater, stopWaiting } from './waiting';

/** One waiting request of a CallWaiters; G is what it resolves with. */
export interface CallWaiting<G> {
  id: string;
  req: CheckedRequest;
  resolve: (g: G) => void;
  reject: (e: Error) => void;
  settled: boolean;
  /** performance.now() of the last call Redis answered (a heartbeat that kept the place). */
  lastOkAt: number;
  timer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  inFlight: boolean;
  lateTries: number;
  /** A wake-up came while a call was in flight: call again as soon as it is back. */
  again: boolean;
}

export abstract class CallWaiters<W extends CallWaiting<G>, G> {
  protected readonly waiting = new Map<string, W>();

  constructor(protected readonly core: LeasesCore) {}

  has(id: string): boolean {
    return this.waiting.has(id);
  }

  /** One call: the request, a heartbeat or a poll (`placeNow`: the caller was woken). */
  protected abstract poll(w: W, first: boolean, placeNow: boolean): Promise<void>;

  /** Leaves every queue the waiter is in (and gives back a grant made meanwhile). */
  protected abstract leave(w: W): Promise<unknown>;

  /** Starts waiting: `make` builds the waiter around the promise's settle functions. */
  protected start(req: CheckedRequest, make: (base: CallWaiting<G>) => W): Promise<G> {
    if (req.signal?.aborted) return Promise.reject(abortedError(req.resource));
    return new Promise<G>((resolve, reject) => {
      const w = make({
        id: newId(),
        req,
        resolve,
        reject,
        settled: false,
        lastOkAt: performance.now(),
        timer: undefined,
        deadlineTimer: undefined,
        onAbort: undefined,
        inFlight: false,
        lateTries: 0,
        again: false,
      });
      this.waiting.set(w.id, w);
      if (req.signal) {
        w.onAbort = () => this.giveUp(w, abortedError(req.resource));
        req.signal.addEventListener('abort', w.onAbort, { once: true });
      }
      if (req.deadline !== undefined && req.deadline - Date.now() > 0) {
        w.deadlineTimer = setTimeout(() => this.giveUp(w, timeoutError(req.resource, req.deadline as number)), req.deadline - Date.now());
      }
      this.startPoll(w, true, false);
    });
  }

  recheckAll(): void {
    for (const w of this.waiting.values()) this.schedulePoll(w, 0, true);
  }

  closeAll(error: (resource: string) => GpuArbiterError): Array<Promise<unknown>> {
    const work: Array<Promise<unknown>> = [];
    for (const w of [...this.waiting.values()]) {
      this.settle(w);
      w.reject(error(w.req.resource));
      work.push(this.leave(w));
    }
    return work;
  }

  protected startPoll(w: W, first: boolean, placeNow: boolean): void {
    this.poll(w, first, placeNow).catch((err: unknown) => {
      w.inFlight = false;
      if (!w.settled) this.fail(w, asUnavailable(err));
      this.core.backendError(err);
    });
  }

  /**
   * A call that did not reach Redis: nothing is granted on a guess. The first call fails at once;
   * a queued waiter keeps its place while its heartbeat could still be renewed.
   */
  protected unreached(w: W, err: unknown, first: boolean): void {
    w.inFlight = false;
    if (w.settled) return;
    if (first || performance.now() - w.lastOkAt > this.core.config.waiterTtlMs) this.fail(w, asUnavailable(err));
    else this.schedulePoll(w, Math.min(250, this.core.config.pollMs), false);
  }

  protected schedulePoll(w: W, delay: number, placeNow: boolean): void {
    pollLater(w, delay, () => this.startPoll(w, false, placeNow));
  }

  protected settle(w: W): void {
    stopWaiting(w);
    this.waiting.delete(w.id);
  }

  /** A grant came too late to hand out: `retry` (confirm, or ask under a new id), or fail after MAX_LATE_TRIES. */
  protected late(w: W, detail: string, retry: () => void): void {
    if (mayRetryLate(w)) {
      retry();
      return;
    }
    this.fail(w, unavailable(`Redis answered too late to hand out a grant of ${w.req.resource} (${detail}; ${MAX_LATE_TRIES + 1} tries)`));
  }

  /** Asks again under a new id (the old one's grant ended before it was confirmed). */
  protected renew(w: W): void {
    this.waiting.delete(w.id);
    w.id = newId();
    this.waiting.set(w.id, w);
    this.startPoll(w, true, false);
  }

  protected giveUp(w: W, err: GpuArbiterError): void {
    if (w.settled) return;
    this.fail(w, err);
  }

  /** Settles with `err` and leaves the queues. */
  protected fail(w: W, err: Error): void {
    this.settle(w);
    w.reject(err);
    void this.leave(w);
  }
}
