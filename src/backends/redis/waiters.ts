// The waiters of this process: each acquire() is one waiter, which sends ACQUIRE (the request),
// then keeps its place with the same script as its heartbeat (every pollMs at the latest, which
// is also the safety net under pub/sub). Grants and refusals made by other processes' calls
// reach it through the wake-up subscriber (./subscriber.ts), handled here in onWake(). A waiter
// that gives up (abort, deadline, close) leaves at once (LEAVE, ./release.ts).
//
// A grant is handed out only while most of its TTL is still ahead: one that arrives late (a
// Redis stall held the reply or the published message back) is first confirmed by ACQUIRE (a
// full TTL from the server's now), or asked for again under a new id when its lease has ended
// meanwhile; never resolved with a lease that is lost, or about to be, on arrival.
import { newId } from './ids';
import { performance } from 'node:perf_hooks';
import type { GpuArbiterError } from '../../errors';
import { unavailable } from './connection';
import type { LeasesCore } from './core';
import type { HeldLeases } from './held';
import type { Releases } from './release';
import type { Renewal } from './renewal';
import { abortedError, asUnavailable, refusal, timeoutError } from './replies';
import type { UsageTuple } from './replies';
import type { CheckedRequest } from './request';
import type { Resources } from './resources';
import { SCRIPTS } from './scripts';
import type { WakeMessage } from './subscriber';
import type { RedisGrant } from './types';
import { MAX_LATE_TRIES, mayRetryLate, pollLater, stopWaiting } from './waiting';

interface Waiting {
  /** Its id in Redis (the lease token once granted); a new one when its grant ended unconfirmed. */
  id: string;
  resource: string;
  req: CheckedRequest;
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
  /** Grants that came too late to hand out, so far (confirmed again, or asked for again). */
  lateTries: number;
  /** A published grant came too late: the next ACQUIRE goes out at once. */
  confirmNow: boolean;
  /** The end of its holder record as Redis keeps it (recordTail()). */
  tail: string;
}

/**
 * The end of a holder record, '"h":<holder JSON>,"c":<channel>,"p":<priority>}' (both strings
 * JSON-escaped): ACQUIRE puts it after the fields only Redis knows instead of running
 * cjson.encode (holdLease() in ./lua/prelude.ts).
 */
export function recordTail(holderJson: string, channel: string, priority: number): string {
  return `"h":${JSON.stringify(holderJson)},"c":${JSON.stringify(channel)},"p":${priority}}`;
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

  /** The last record tail made, for the next request of the same holder and priority (most are). */
  private lastTail = { holderJson: '', priority: -1, tail: '' };

  private tailOf(req: CheckedRequest): string {
    const t = this.lastTail;
    if (t.holderJson !== req.holderJson || t.priority !== req.priority) {
      this.lastTail = { holderJson: req.holderJson, priority: req.priority, tail: recordTail(req.holderJson, this.core.channel, req.priority) };
    }
    return this.lastTail.tail;
  }

  /** Queues a checked request; resolves with its grant. */
  enqueue(req: CheckedRequest): Promise<RedisGrant> {
    if (req.signal?.aborted) return Promise.reject(abortedError(req.resource));
    const id = newId();
    return new Promise<RedisGrant>((resolve, reject) => {
      const w: Waiting = {
        id,
        resource: req.resource,
        req,
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
        lateTries: 0,
        confirmNow: false,
        tail: this.tailOf(req),
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
        req.holderJson,
        this.core.channel,
        req.queueLimit ?? 0,
        remaining === 0 ? '1' : '0',
        req.queueGroup ?? '',
        this.core.poolEpoch,
        // A first call under a fresh id: Redis skips looking for a hold, a place or a tombstone of it.
        first ? '1' : '0',
        w.tail,
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
    const receivedAt = performance.now();
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
        const fence = Number(reply[1]);
        const grantedAt = Number(reply[2]);
        const remainingMs = Number(reply[3]);
        const waitedMs = Number(reply[4]);
        this.core.noteServerTime(Number(reply[5]), sentAt, receivedAt);
        // Ours for remainingMs from when the script ran, which we place (safely) at sentAt. A
        // reply that took more than half of that (a stall) would hand out a lease that is lost
        // at once, or soon: confirm it again first (ACQUIRE of a held id: a full TTL from now).
        const localExpiry = sentAt + remainingMs;
        if (localExpiry - receivedAt < remainingMs / 2) {
          this.late(w, `the grant's reply took ${Math.round(receivedAt - sentAt)} ms of its ${remainingMs} ms TTL`, () => this.startPoll(w, false));
          return;
        }
        this.settle(w, true);
        w.resolve(this.grant(w, fence, grantedAt, waitedMs, localExpiry));
        return;
      }
      case 'queued': {
        w.position = Number(reply[1]);
        const nextExpiry = Number(reply[2]);
        this.core.noteServerTime(Number(reply[3]), sentAt, receivedAt);
        // Re-check when the first holder's lease runs out (an expiry publishes nothing), at
        // the latest after pollMs (the heartbeat, and the safety net under pub/sub); at once
        // when a grant published for it came too late to hand out.
        const delay = w.confirmNow ? 0 : nextExpiry >= 0 ? Math.min(pollMs, nextExpiry + 5) : pollMs;
        w.confirmNow = false;
        this.schedulePoll(w, delay);
        return;
      }
      case 'ended': {
        // It was granted (a handoff) and the lease ended before it was confirmed: ask again
        // under a new id (Redis never grants one id twice).
        this.late(w, 'its lease ended before it could be confirmed', () => {
          this.waiting.delete(w.id);
          w.id = newId();
          this.waiting.set(w.id, w);
          w.position = -1;
          w.confirmNow = false;
          this.startPoll(w, true);
        });
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
    pollLater(w, delay, () => this.startPoll(w, false));
  }

  private settle(w: Waiting, granted = false): void {
    stopWaiting(w);
    this.waiting.delete(w.id);
    if (!granted) {
      // A grant published for it may still arrive; remember where to hand it back.
      this.gaveUp.set(w.id, w.resource);
      setTimeout(() => this.gaveUp.delete(w.id), 2 * this.core.config.waiterTtlMs).unref();
    }
  }

  /**
   * A grant came too late to hand out: `retry` (confirm it, or ask again) up to MAX_LATE_TRIES
   * times, then fail with E_BACKEND_UNAVAILABLE and give the grant back (LEAVE). The deadline
   * and abort keep running meanwhile.
   */
  private late(w: Waiting, detail: string, retry: () => void): void {
    if (mayRetryLate(w)) {
      retry();
      return;
    }
    this.settle(w);
    w.reject(
      unavailable(
        `Redis answered too late to hand out a grant of ${w.resource} (${detail}; ${MAX_LATE_TRIES + 1} tries): ` +
          `the lease TTL (${this.core.config.leaseTtlMs} ms) is too short for this Redis's latency, or Redis is stalling`,
      ),
    );
    void this.parts.releases.leave(w.resource, w.id);
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
        // How much of its (provisional) TTL is left, by our estimate of the Redis clock. A
        // message a stall held back may carry a grant that is over, or nearly: not handed out;
        // the next ACQUIRE (at once) confirms it for a full TTL, or finds it ended.
        const left = Math.min(m.remainingMs, this.core.serverMsUntil(m.expiresAt) ?? m.remainingMs);
        if (left < m.remainingMs / 2) {
          w.confirmNow = true;
          if (!w.inFlight) this.schedulePoll(w, 0);
          return;
        }
        this.settle(w, true);
        // The grant was made before this message arrived: count its (provisional) TTL from a
        // little before now. It is confirmed for a full lease TTL a third into the provisional
        // TTL if it is still held then (or by an earlier renewal tick), so a short hold costs
        // no command beyond its release.
        const margin = Math.min(1000, m.remainingMs / 10);
        const grant = this.grant(w, m.fencingToken, m.grantedAt, m.waitedMs, performance.now() + left - margin);
        w.resolve(grant);
        this.parts.renewal.confirmLater(w.resource, grant.token, Math.floor(left / 3));
      } else if (m.type === 'lost') {
        const h = this.parts.held.get(m.token);
        if (h) this.parts.held.lose(h, m.reason.startsWith('revoked') ? 'revoked' : m.reason === 'node-lost' ? 'node-lost' : 'expired', m.reason);
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
