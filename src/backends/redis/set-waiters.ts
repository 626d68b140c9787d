// The set requests of this process (RedisLeases.acquireSet): several resources of one group (a
// node's GPUs), all granted in one step or none, by ACQUIRE_SET (./lua/acquire-set.ts). Each is
// one waiter here that calls ACQUIRE_SET as its request, its heartbeat and its poll; a queue whose
// head it reaches tells it to call at once ('e|id|0' on the wake-up channel). Once granted, each
// member is a lease of its own (token `<id>.<k>`), held, renewed and released like any other;
// giving up leaves every queue (LEAVE per member, which also gives back a grant made meanwhile).
// The rules for late replies are those of ./waiters.ts: never hand out a grant already lost.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { GpuArbiterError } from '../../errors';
import { unavailable } from './connection';
import type { LeasesCore } from './core';
import { abortedError, asUnavailable, refusal, timeoutError } from './replies';
import type { CheckedRequest, CheckedSetRequest } from './request';
import { SCRIPTS } from './scripts';
import type { RedisGrant } from './types';
import type { WaiterParts } from './waiters';
import { MAX_LATE_TRIES, mayRetryLate, pollLater, stopWaiting } from './waiting';

interface SetWaiting {
  id: string;
  resources: string[];
  req: CheckedRequest;
  resolve: (g: RedisGrant[]) => void;
  reject: (e: Error) => void;
  settled: boolean;
  lastOkAt: number;
  timer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  inFlight: boolean;
  restored: Set<string>;
  lateTries: number;
  /** A wake-up came while a call was in flight: call again as soon as it is back. */
  again: boolean;
}

export class SetWaiters {
  private readonly waiting = new Map<string, SetWaiting>();

  constructor(
    private readonly core: LeasesCore,
    private readonly parts: WaiterParts,
  ) {}

  has(id: string): boolean {
    return this.waiting.has(id);
  }

  enqueue({ resources, req }: CheckedSetRequest): Promise<RedisGrant[]> {
    if (req.signal?.aborted) return Promise.reject(abortedError(req.resource));
    return new Promise<RedisGrant[]>((resolve, reject) => {
      const w: SetWaiting = {
        id: randomBytes(16).toString('hex'),
        resources,
        req,
        resolve,
        reject,
        settled: false,
        lastOkAt: performance.now(),
        timer: undefined,
        deadlineTimer: undefined,
        onAbort: undefined,
        inFlight: false,
        restored: new Set(),
        lateTries: 0,
        again: false,
      };
      this.waiting.set(w.id, w);
      if (req.signal) {
        w.onAbort = () => this.giveUp(w, abortedError(req.resource));
        req.signal.addEventListener('abort', w.onAbort, { once: true });
      }
      if (req.deadline !== undefined && req.deadline - Date.now() > 0) {
        w.deadlineTimer = setTimeout(() => this.giveUp(w, timeoutError(req.resource, req.deadline as number)), req.deadline - Date.now());
      }
      this.startPoll(w, true);
    });
  }

  /** A queue's head is this set's member: call now (or within `inMs`). */
  onExpiry(id: string, inMs: number): void {
    const w = this.waiting.get(id);
    if (!w || w.settled) return;
    if (w.inFlight) w.again = true;
    else this.schedulePoll(w, Math.min(this.core.config.pollMs, inMs));
  }

  recheckAll(): void {
    for (const w of this.waiting.values()) this.schedulePoll(w, 0);
  }

  closeAll(error: (resource: string) => GpuArbiterError): Array<Promise<void>> {
    const work: Array<Promise<void>> = [];
    for (const w of [...this.waiting.values()]) {
      this.settle(w);
      w.reject(error(w.req.resource));
      work.push(...this.leaveAll(w));
    }
    return work;
  }

  private startPoll(w: SetWaiting, first: boolean): void {
    this.poll(w, first).catch((err: unknown) => {
      w.inFlight = false;
      if (!w.settled) {
        this.settle(w);
        w.reject(asUnavailable(err));
        void this.leaveAll(w);
      }
      this.core.backendError(err);
    });
  }

  private async poll(w: SetWaiting, first: boolean): Promise<void> {
    if (w.settled || w.inFlight) return;
    w.inFlight = true;
    const { req } = w;
    const { leaseTtlMs, waiterTtlMs, pollMs } = this.core.config;
    const sentAt = performance.now();
    const remaining = req.deadline === undefined ? -1 : Math.max(0, Math.floor(req.deadline - Date.now()));
    const keys = this.core.keysOf(w.resources);
    let reply: unknown[];
    try {
      const args = [
        w.id,
        req.units,
        req.priority,
        leaseTtlMs,
        waiterTtlMs,
        remaining,
        req.holderJson,
        this.core.channel,
        remaining === 0 ? '1' : '0',
        this.core.poolEpoch,
      ];
      reply = (await this.core.conn.run(SCRIPTS.acquireSet, keys, args)) as unknown[];
    } catch (err) {
      w.inFlight = false;
      if (w.settled) return;
      // Nothing is granted on a guess (as for one resource, ./waiters.ts).
      if (first || performance.now() - w.lastOkAt > waiterTtlMs) {
        this.settle(w);
        w.reject(asUnavailable(err));
        void this.leaveAll(w);
      } else {
        this.schedulePoll(w, Math.min(250, pollMs));
      }
      return;
    }
    w.inFlight = false;
    const receivedAt = performance.now();
    if (w.settled) return; // gave up meanwhile: the LEAVEs sent then undo whatever this did
    w.lastOkAt = sentAt;
    const status = reply[0] as string;
    if (status === 'granted') {
      const [grantedAt, remainingMs, waitedMs, serverNow] = reply.slice(1, 5).map(Number) as [number, number, number, number];
      this.core.noteServerTime(serverNow, sentAt, receivedAt);
      const localExpiry = sentAt + remainingMs;
      if (localExpiry - receivedAt < remainingMs / 2) {
        // Confirmed again first (ACQUIRE_SET of a granted set: a full TTL from now).
        this.late(w, `the grant's reply took ${Math.round(receivedAt - sentAt)} ms of its ${remainingMs} ms TTL`, () => this.startPoll(w, false));
        return;
      }
      this.settle(w);
      const fences = reply.slice(5).map(Number);
      w.resolve(
        w.resources.map((resource, k) =>
          this.parts.held.add({ resource, units: req.units, token: `${w.id}.${k + 1}`, onLost: req.onLost }, fences[k]!, grantedAt, waitedMs, localExpiry),
        ),
      );
    } else if (status === 'queued') {
      const nextExpiry = Number(reply[2]);
      this.core.noteServerTime(Number(reply[3]), sentAt, receivedAt);
      this.schedulePoll(w, w.again ? 0 : nextExpiry >= 0 ? Math.min(pollMs, nextExpiry + 5) : pollMs);
      w.again = false;
    } else if (status === 'ended') {
      this.late(w, 'a lease of the set ended before it could be confirmed', () => {
        this.waiting.delete(w.id);
        w.id = randomBytes(16).toString('hex');
        this.waiting.set(w.id, w);
        this.startPoll(w, true);
      });
    } else {
      const resource = w.resources[Number(reply[1]) - 1] ?? req.resource;
      const settings = status === 'nores' ? this.parts.resources.settingsOf(resource) : undefined;
      if (settings && !w.restored.has(resource)) {
        // Redis lost the resource (restarted without persistence): put back what this process set.
        w.restored.add(resource);
        try {
          await this.parts.resources.set(resource, settings);
        } catch (err) {
          this.settle(w);
          w.reject(asUnavailable(err));
          return;
        }
        this.startPoll(w, first);
        return;
      }
      this.settle(w);
      w.reject(refusal(status, { ...req, resource: status === 'busy' ? req.resource : resource }));
    }
  }

  private schedulePoll(w: SetWaiting, delay: number): void {
    pollLater(w, delay, () => this.startPoll(w, false));
  }

  private settle(w: SetWaiting): void {
    stopWaiting(w);
    this.waiting.delete(w.id);
  }

  private late(w: SetWaiting, detail: string, retry: () => void): void {
    if (mayRetryLate(w)) {
      retry();
      return;
    }
    this.settle(w);
    w.reject(unavailable(`Redis answered too late to hand out a grant of ${w.req.resource} (${detail}; ${MAX_LATE_TRIES + 1} tries)`));
    void this.leaveAll(w);
  }

  private giveUp(w: SetWaiting, err: GpuArbiterError): void {
    if (w.settled) return;
    this.settle(w);
    w.reject(err);
    void this.leaveAll(w);
  }

  private leaveAll(w: SetWaiting): Array<Promise<void>> {
    return w.resources.map((r, k) => this.parts.releases.leave(r, `${w.id}.${k + 1}`));
  }
}
