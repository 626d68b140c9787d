// The waiters of this process: each acquire() is one waiter, which sends ACQUIRE (the request),
// then keeps its place with the same script as its heartbeat (every pollMs at the latest, which
// is also the safety net under pub/sub). Grants and refusals made by other processes' calls
// reach it through the wake-up subscriber (./subscriber.ts), handled here in onWake(). A waiter
// that gives up (abort, deadline, close) leaves at once (LEAVE, ./release.ts).
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { GpuArbiterError } from '../../errors';
import type { LeasesCore } from './core';
import type { HeldLeases } from './held';
import type { Releases } from './release';
import type { Renewal } from './renewal';
import { abortedError, asUnavailable, refusal, timeoutError } from './replies';
import type { UsageTuple } from './replies';
import type { Resources } from './resources';
import { SCRIPTS } from './scripts';
import type { WakeMessage } from './subscriber';
import type { RedisAcquireRequest, RedisGrant, RedisHolderInfo } from './types';

interface Waiting {
  id: string;
  resource: string;
  req: RedisAcquireRequest;
  holderJson: string;
  resolve: (g: RedisGrant) => void;
  reject: (e: Error) => void;
  settled: boolean;
  /** performance.now() of the last successful ACQUIRE call (heartbeat). */
  lastOkAt: number;
  position: number;
  timer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  inFlight: boolean;
  /** setResource was replayed once for it after Redis lost the resource. */
  restored: boolean;
}

/** The parts a waiter hands over to once it is granted, or gives up. */
export interface WaiterParts {
  held: HeldLeases;
  renewal: Renewal;
  releases: Releases;
  resources: Resources;
}

export class Waiters {
  private readonly waiting = new Map<string, Waiting>();
  /** Waiter ids that gave up recently -> resource. */
  private readonly gaveUp = new Map<string, string>();

  constructor(
    private readonly core: LeasesCore,
    private readonly parts: WaiterParts,
  ) {}

  /** Queues a checked request; resolves with its grant. */
  enqueue(req: RedisAcquireRequest): Promise<RedisGrant> {
    if (req.signal?.aborted) return Promise.reject(abortedError(req.resource));
    const id = randomBytes(16).toString('hex');
    const holder: RedisHolderInfo = { host: os.hostname(), ...req.holder };
    return new Promise<RedisGrant>((resolve, reject) => {
      const w: Waiting = {
        id,
        resource: req.resource,
        req,
        holderJson: JSON.stringify(holder),
        resolve,
        reject,
        settled: false,
        lastOkAt: performance.now(),
        position: -1,
        timer: undefined,
        deadlineTimer: undefined,
        onAbort: undefined,
        inFlight: false,
        restored: false,
      };
      this.waiting.set(id, w);
      if (req.signal) {
        w.onAbort = () => this.giveUp(w, abortedError(req.resource));
        req.signal.addEventListener('abort', w.onAbort, { once: true });
      }
      if (req.deadline !== undefined) {
        const ms = req.deadline - Date.now();
        if (ms > 0) {
          w.deadlineTimer = setTimeout(() => this.giveUp(w, timeoutError(req.resource, req.deadline as number)), ms);
        }
      }
      this.startPoll(w, true);
    });
  }

  /** After a reconnect: a grant may have been published while the subscriber was away. */
  recheckAll(): void {
    for (const w of this.waiting.values()) this.schedulePoll(w, 0);
  }

  /** close(): every waiter rejects with E_CLOSED and leaves the queue (the promises of those LEAVEs). */
  closeAll(error: (resource: string) => GpuArbiterError): Array<Promise<void>> {
    const work: Array<Promise<void>> = [];
    for (const w of [...this.waiting.values()]) {
      this.settle(w);
      w.reject(error(w.resource));
      work.push(this.parts.releases.leave(w.resource, w.id));
    }
    return work;
  }

  /** poll() never rejects by design; anything unexpected still ends the wait, never a timer. */
  private startPoll(w: Waiting, first: boolean): void {
    this.poll(w, first).catch((err: unknown) => {
      w.inFlight = false;
      if (!w.settled) {
        this.settle(w);
        w.reject(asUnavailable(err));
        void this.parts.releases.leave(w.resource, w.id);
      }
      this.core.backendError(err);
    });
  }

  /** Runs ACQUIRE for a waiter: the first request, its heartbeat, and the safety-net poll. */
  private async poll(w: Waiting, first: boolean): Promise<void> {
    if (w.settled || w.inFlight) return;
    w.inFlight = true;
    const { req } = w;
    const { leaseTtlMs, waiterTtlMs, pollMs } = this.core.config;
    const sentAt = performance.now();
    const remaining = req.deadline === undefined ? -1 : Math.max(0, Math.floor(req.deadline - Date.now()));
    let reply: unknown[];
    try {
      reply = (await this.core.run(SCRIPTS.acquire, w.resource, [
        w.id,
        req.units,
        req.priority,
        leaseTtlMs,
        waiterTtlMs,
        remaining,
        w.holderJson,
        this.core.channel,
        req.queueLimit ?? 0,
        remaining === 0 ? '1' : '0',
        req.queueGroup ?? '',
      ])) as unknown[];
    } catch (err) {
      w.inFlight = false;
      if (w.settled) return;
      const e = asUnavailable(err);
      // Nothing is granted on a guess: the first call fails at once; a queued waiter keeps its
      // place while its heartbeat could still be renewed, then fails too.
      if (first || performance.now() - w.lastOkAt > waiterTtlMs) {
        this.settle(w);
        w.reject(e);
        void this.parts.releases.leave(w.resource, w.id);
      } else {
        this.schedulePoll(w, Math.min(250, pollMs));
      }
      return;
    }
    w.inFlight = false;
    const status = reply[0] as string;
    const usage = reply[reply.length - 1] as UsageTuple;
    this.core.updateUsage(w.resource, usage);
    if (w.settled) {
      // Gave up (abort/deadline/close) while this call was in flight; the LEAVE sent then runs
      // after it on the same connection and undoes whatever it did.
      return;
    }
    w.lastOkAt = sentAt;
    switch (status) {
      case 'granted': {
        const [, fence, grantedAt, remainingMs, waitedMs] = reply as number[];
        this.settle(w, true);
        w.resolve(this.grant(w, Number(fence), Number(grantedAt), Number(waitedMs), sentAt + Number(remainingMs)));
        return;
      }
      case 'queued': {
        w.position = Number(reply[1]);
        const nextExpiry = Number(reply[2]);
        // Re-check when the first holder's lease runs out (an expiry publishes nothing), at
        // the latest after pollMs (the heartbeat, and the safety net under pub/sub).
        const delay = nextExpiry >= 0 ? Math.min(pollMs, nextExpiry + 5) : pollMs;
        this.schedulePoll(w, delay);
        return;
      }
      case 'nores': {
        // Redis lost the resource (restarted without persistence): put back what this process
        // configured and try again; unknown to us too: refuse.
        const settings = this.parts.resources.settingsOf(w.resource);
        if (settings && !w.restored) {
          w.restored = true;
          try {
            await this.parts.resources.set(w.resource, settings);
          } catch (err) {
            this.settle(w);
            w.reject(asUnavailable(err));
            return;
          }
          this.startPoll(w, first);
          return;
        }
        this.settle(w);
        w.reject(refusal(status, req));
        return;
      }
      default: {
        this.settle(w);
        w.reject(refusal(status, req));
      }
    }
  }

  private schedulePoll(w: Waiting, delay: number): void {
    if (w.settled) return;
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      w.timer = undefined;
      this.startPoll(w, false);
    }, delay);
  }

  private settle(w: Waiting, granted = false): void {
    w.settled = true;
    this.waiting.delete(w.id);
    if (!granted) {
      // A grant published for it may still arrive; remember where to hand it back.
      this.gaveUp.set(w.id, w.resource);
      setTimeout(() => this.gaveUp.delete(w.id), 2 * this.core.config.waiterTtlMs).unref();
    }
    if (w.timer) clearTimeout(w.timer);
    if (w.deadlineTimer) clearTimeout(w.deadlineTimer);
    if (w.onAbort) w.req.signal?.removeEventListener('abort', w.onAbort);
    w.timer = w.deadlineTimer = undefined;
  }

  /** Abort, deadline or close: the waiter leaves at once (LEAVE also undoes a grant made meanwhile). */
  private giveUp(w: Waiting, err: GpuArbiterError): void {
    if (w.settled) return;
    this.settle(w);
    w.reject(err);
    void this.parts.releases.leave(w.resource, w.id);
  }

  /** The waiter's grant, now held (its token is the waiter's id). */
  private grant(w: Waiting, fencingToken: number, grantedAt: number, waitedMs: number, localExpiry: number): RedisGrant {
    const g = { resource: w.resource, units: w.req.units, token: w.id, onLost: w.req.onLost };
    return this.parts.held.add(g, fencingToken, grantedAt, waitedMs, localExpiry);
  }

  /** A message on this instance's wake-up channel (never throws: failures become 'backend-error'). */
  onWake(m: WakeMessage): void {
    try {
      if (m.type === 'granted') {
        const w = this.waiting.get(m.id);
        if (!w || w.settled) {
          // Nobody waits for it any more (gave up, failed): hand it straight back.
          const resource = this.gaveUp.get(m.id);
          if (resource !== undefined) void this.parts.releases.leave(resource, m.id);
          return;
        }
        this.settle(w, true);
        // The grant was made before this message arrived: count its (provisional) TTL from a
        // little before now. It is confirmed for a full lease TTL a third into the provisional
        // TTL if it is still held then (or by an earlier renewal tick), so a short hold costs
        // no command beyond its release.
        const margin = Math.min(1000, m.remainingMs / 10);
        const grant = this.grant(w, m.fencingToken, m.grantedAt, m.waitedMs, performance.now() + m.remainingMs - margin);
        w.resolve(grant);
        this.parts.renewal.confirmLater(w.resource, grant.token, Math.floor(m.remainingMs / 3));
      } else if (m.type === 'lost') {
        const h = this.parts.held.get(m.token);
        if (h) this.parts.held.lose(h, m.reason.startsWith('revoked') ? 'revoked' : 'expired', m.reason);
      } else if (m.type === 'expiry') {
        const w = this.waiting.get(m.id);
        if (w && !w.settled && !w.inFlight) this.schedulePoll(w, Math.min(this.core.config.pollMs, m.inMs + 5));
      } else {
        const w = this.waiting.get(m.id);
        if (w && !w.settled) {
          this.settle(w);
          w.reject(refusal('nofit', w.req));
        }
      }
    } catch (err) {
      this.core.backendError(err);
    }
  }
}
