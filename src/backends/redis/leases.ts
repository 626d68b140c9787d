// RedisLeases: the Redis backend. Leases on weighted resources shared by every process on every
// host that talks to one Redis (or Redis Cluster). All state lives in Redis and changes only
// through the Lua scripts of ./scripts (one script per change, atomic); this class keeps the
// local side: waiting promises, renewal of what this process holds, the wake-up subscription,
// and a cached usage view for synchronous reads.
//
// Everything here runs on the JS thread. Timers never throw: their failures become events.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { GpuArbiterError, isGpuArbiterError } from '../../errors';
import { booleanValue, integerInRange, invalid, knownKeys, nonEmptyString, optionsObject } from '../../util/validate';
import { RedisConnection, checkTarget, unavailable } from './connection';
import { namespaceKeys, resourceKeyList, resourceKeys, wakeChannel } from './keys';
import { PRIORITY_MAX, SCRIPTS } from './scripts';
import { abortedError, asUnavailable, delay, parseHolder, parseJson, refusal, timeoutError, withDeadline } from './replies';
import { MAX_UNITS, checkRequest } from './request';
import { WakeSubscriber, type WakeMessage } from './subscriber';
import type {
  CriticalFailureEvent,
  InspectResource,
  LeaseHolder,
  LeaseLostEvent,
  RedisAcquireRequest,
  RedisGrant,
  RedisInspectView,
  RedisLeasesCounters,
  RedisLeasesEvents,
  RedisLeasesOptions,
  ReleaseOutcome,
  ResourceSettings,
  ResourceUsage,
} from './types';

const OPTION_KEYS = [
  'redis',
  'namespace',
  'leaseTtlMs',
  'waiterTtlMs',
  'pollMs',
  'commandTimeoutMs',
  'releaseRetries',
  'onCriticalFailure',
  'connectTimeoutMs',
] as const;

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

interface Held {
  resource: string;
  units: number;
  token: string;
  fencingToken: number;
  ac: AbortController;
  /** performance.now() before which the lease is surely still ours on the server. */
  localExpiry: number;
  lostTimer: NodeJS.Timeout | undefined;
  ended: boolean;
  releasing: Promise<ReleaseOutcome> | undefined;
  onLost: ((e: GpuArbiterError) => void) | undefined;
}

type UsageTuple = [number, number, number, number, number, number];

/**
 * Cross-host leases on Redis.
 *
 * @example
 * const leases = await RedisLeases.open({ redis: 'redis://10.0.0.5:6379', namespace: 'prod' });
 * await leases.setResource('node-a:gpu0', { capacity: 24_000 });
 * const grant = await leases.acquire({ resource: 'node-a:gpu0', units: 2500, priority: 90,
 *   holder: { leaseId: 'l1', task: 'ASR', pid: process.pid } });
 * try { await runAsr(grant.lost); } finally { await grant.release(); }
 * await leases.close();
 */
export class RedisLeases extends EventEmitter<RedisLeasesEvents> {
  readonly namespace: string;
  readonly leaseTtlMs: number;
  readonly waiterTtlMs: number;
  readonly pollMs: number;
  readonly releaseRetries: number;
  /** This instance's id; its wake-up channel is derived from it. */
  readonly instanceId = randomBytes(8).toString('hex');
  readonly channel: string;

  private readonly conn: RedisConnection;
  private subscriber: WakeSubscriber | undefined;
  private readonly onCriticalFailure: ((e: CriticalFailureEvent) => void) | undefined;
  private readonly waiting = new Map<string, Waiting>();
  private readonly held = new Map<string, Held>();
  private readonly heldByResource = new Map<string, Set<string>>();
  private readonly renewing = new Set<string>();
  private readonly failingSince = new Map<string, number>();
  private readonly usageCache = new Map<string, ResourceUsage>();
  private readonly known = new Set<string>();
  /** The last settings this process gave each resource, replayed if Redis loses them. */
  private readonly settings = new Map<string, ResourceSettings>();
  /** Waiter ids that gave up recently -> resource. */
  private readonly gaveUp = new Map<string, string>();
  private renewTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private down = false;
  private readonly counts = { ownershipViolations: 0, releaseFailures: 0, renewalFailures: 0, leasesLost: 0 };

  /** Connects (and subscribes to this instance's wake-up channel) and returns a ready backend. */
  static async open(options: RedisLeasesOptions): Promise<RedisLeases> {
    const leases = new RedisLeases(options);
    try {
      await leases.start(options.connectTimeoutMs ?? 5000);
    } catch (err) {
      await leases.close().catch(() => undefined);
      throw err;
    }
    return leases;
  }

  private constructor(options: RedisLeasesOptions) {
    super();
    const opts = optionsObject<RedisLeasesOptions>('options', options);
    knownKeys('options', opts, OPTION_KEYS);
    const target = checkTarget('options.redis', opts.redis);
    this.namespace = opts.namespace === undefined ? 'default' : nonEmptyString('options.namespace', opts.namespace);
    if (/[{}|]/.test(this.namespace)) throw invalid('options.namespace', 'a name without {, } or |', this.namespace);
    this.leaseTtlMs = opts.leaseTtlMs === undefined ? 10_000 : integerInRange('options.leaseTtlMs', opts.leaseTtlMs, 100, 86_400_000);
    this.waiterTtlMs =
      opts.waiterTtlMs === undefined
        ? Math.min(this.leaseTtlMs, 5000)
        : integerInRange('options.waiterTtlMs', opts.waiterTtlMs, 100, 86_400_000);
    this.pollMs =
      opts.pollMs === undefined
        ? Math.max(30, Math.floor(this.waiterTtlMs / 3))
        : integerInRange('options.pollMs', opts.pollMs, 10, 86_400_000);
    const commandTimeoutMs =
      opts.commandTimeoutMs === undefined ? 2000 : integerInRange('options.commandTimeoutMs', opts.commandTimeoutMs, 10, 600_000);
    this.releaseRetries = opts.releaseRetries === undefined ? 3 : integerInRange('options.releaseRetries', opts.releaseRetries, 0, 100);
    if (opts.onCriticalFailure !== undefined && typeof opts.onCriticalFailure !== 'function') {
      throw invalid('options.onCriticalFailure', 'a function', opts.onCriticalFailure);
    }
    if (opts.connectTimeoutMs !== undefined) integerInRange('options.connectTimeoutMs', opts.connectTimeoutMs, 1, 600_000);
    this.onCriticalFailure = opts.onCriticalFailure;
    this.channel = wakeChannel(this.namespace, this.instanceId);
    this.conn = RedisConnection.create(target, commandTimeoutMs);
  }

  private async start(connectTimeoutMs: number): Promise<void> {
    const client = this.conn.client;
    client.on('error', () => undefined); // surfaced through failed commands and 'backend-down'
    client.on('close', () => this.markDown(null));
    client.on('ready', () => this.markUp());
    await this.conn.waitReady(connectTimeoutMs);
    const sub = new WakeSubscriber(
      this.conn.duplicate(),
      this.channel,
      (m) => this.onWake(m),
      () => this.recheckAll(),
    );
    this.subscriber = sub;
    await withDeadline(sub.start(), connectTimeoutMs, 'subscribe');
    this.renewTimer = setInterval(() => this.renewAll(), Math.max(10, Math.floor(this.leaseTtlMs / 3)));
    this.renewTimer.unref();
  }

  /** True while the command connection is up. */
  get available(): boolean {
    return !this.closed && this.conn.ready;
  }

  /** Failure and loss counters of this process. */
  counters(): RedisLeasesCounters {
    return { ...this.counts, scriptLoads: this.conn.scriptLoads };
  }

  get ownershipViolations(): number {
    return this.counts.ownershipViolations;
  }
  get releaseFailures(): number {
    return this.counts.releaseFailures;
  }
  get renewalFailures(): number {
    return this.counts.renewalFailures;
  }

  /** The ioredis client used for commands (for tests and views; do not change its state). */
  get client(): RedisConnection['client'] {
    return this.conn.client;
  }

  // ---------------------------------------------------------------- resources

  /** Creates or changes a resource. Waiters that now fit are granted; those that never can are refused. */
  async setResource(resource: string, settings: ResourceSettings): Promise<ResourceUsage> {
    this.assertOpen();
    nonEmptyString('resource', resource);
    const s = optionsObject<ResourceSettings>('settings', settings);
    knownKeys('settings', s, ['capacity', 'external', 'closed']);
    const capacity = integerInRange('settings.capacity', s.capacity, 0, MAX_UNITS);
    const external = s.external === undefined ? 0 : integerInRange('settings.external', s.external, 0, MAX_UNITS);
    const closed = s.closed === undefined ? false : booleanValue('settings.closed', s.closed);
    const reply = await this.conn.run(SCRIPTS.setResource, this.keysOf(resource), [capacity, external, closed ? '1' : '0']);
    this.known.add(resource);
    this.settings.set(resource, { capacity, external, closed });
    // The list of resources is a view for inspect and the CLI, in the namespace's own slot.
    const nsKey = namespaceKeys(this.namespace).resources;
    await this.conn.run(SCRIPTS.nsAddResource, [nsKey], [resource]);
    return this.updateUsage(resource, reply as UsageTuple);
  }

  /** Cached usage of a resource (synchronous): refreshed by every script reply this process gets. */
  usage(resource: string): ResourceUsage | null {
    return this.usageCache.get(resource) ?? null;
  }

  // ---------------------------------------------------------------- acquire

  /**
   * Waits for `units` of `resource`. Rejects with E_DOES_NOT_FIT (more than the capacity),
   * E_TIMEOUT (deadline), E_ABORTED (signal), E_QUEUE_FULL, E_CLOSED, or
   * E_BACKEND_UNAVAILABLE (Redis unreachable: nothing is granted on a guess).
   */
  acquire(request: RedisAcquireRequest): Promise<RedisGrant> {
    let req: RedisAcquireRequest;
    try {
      this.assertOpen();
      req = checkRequest(request);
    } catch (err) {
      return Promise.reject(err);
    }
    if (req.signal?.aborted) return Promise.reject(abortedError(req.resource));
    const id = randomBytes(16).toString('hex');
    const holder: LeaseHolder = { host: os.hostname(), ...req.holder };
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

  /** poll() never rejects by design; anything unexpected still ends the wait, never a timer. */
  private startPoll(w: Waiting, first: boolean): void {
    this.poll(w, first).catch((err: unknown) => {
      w.inFlight = false;
      if (!w.settled) {
        this.settle(w);
        w.reject(asUnavailable(err));
        void this.cleanupLater(w.resource, w.id);
      }
      this.backendError(err);
    });
  }

  /** Runs ACQUIRE for a waiter: the first request, its heartbeat, and the safety-net poll. */
  private async poll(w: Waiting, first: boolean): Promise<void> {
    if (w.settled || w.inFlight) return;
    w.inFlight = true;
    const { req } = w;
    const sentAt = performance.now();
    const remaining = req.deadline === undefined ? -1 : Math.max(0, Math.floor(req.deadline - Date.now()));
    let reply: unknown[];
    try {
      reply = (await this.conn.run(SCRIPTS.acquire, this.keysOf(w.resource), [
        w.id,
        req.units,
        req.priority,
        this.leaseTtlMs,
        this.waiterTtlMs,
        remaining,
        w.holderJson,
        this.channel,
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
      if (first || performance.now() - w.lastOkAt > this.waiterTtlMs) {
        this.settle(w);
        w.reject(e);
        void this.cleanupLater(w.resource, w.id);
      } else {
        this.schedulePoll(w, Math.min(250, this.pollMs));
      }
      return;
    }
    w.inFlight = false;
    const status = reply[0] as string;
    const usage = reply[reply.length - 1] as UsageTuple;
    this.updateUsage(w.resource, usage);
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
        w.resolve(this.makeGrant(w, Number(fence), Number(grantedAt), Number(waitedMs), sentAt + Number(remainingMs)));
        return;
      }
      case 'queued': {
        w.position = Number(reply[1]);
        const nextExpiry = Number(reply[2]);
        // Re-check when the first holder's lease runs out (an expiry publishes nothing), at
        // the latest after pollMs (the heartbeat, and the safety net under pub/sub).
        const delay = nextExpiry >= 0 ? Math.min(this.pollMs, nextExpiry + 5) : this.pollMs;
        this.schedulePoll(w, delay);
        return;
      }
      case 'nores': {
        // Redis lost the resource (restarted without persistence): put back what this process
        // configured and try again; unknown to us too: refuse.
        const settings = this.settings.get(w.resource);
        if (settings && !w.restored) {
          w.restored = true;
          try {
            await this.setResource(w.resource, settings);
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
      setTimeout(() => this.gaveUp.delete(w.id), 2 * this.waiterTtlMs).unref();
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
    void this.cleanupLater(w.resource, w.id);
  }

  /** Removes a waiter (or the grant it got) in the background; retried, else its TTL removes it. */
  private cleanupLater(resource: string, id: string): Promise<void> {
    const attempt = async (n: number): Promise<void> => {
      try {
        const reply = (await this.conn.run(SCRIPTS.leave, this.keysOf(resource), [id])) as unknown[];
        this.updateUsage(resource, reply[1] as UsageTuple);
      } catch (err) {
        if (n < this.releaseRetries && !this.closed) {
          await delay(50 * 2 ** n);
          return attempt(n + 1);
        }
      }
    };
    return attempt(0).catch((e: unknown) => this.backendError(e));
  }

  private makeGrant(w: Waiting, fencingToken: number, grantedAt: number, waitedMs: number, localExpiry: number): RedisGrant {
    const h: Held = {
      resource: w.resource,
      units: w.req.units,
      token: w.id,
      fencingToken,
      ac: new AbortController(),
      localExpiry,
      lostTimer: undefined,
      ended: false,
      releasing: undefined,
      onLost: w.req.onLost,
    };
    this.held.set(h.token, h);
    let set = this.heldByResource.get(h.resource);
    if (!set) this.heldByResource.set(h.resource, (set = new Set()));
    set.add(h.token);
    this.armLostTimer(h);
    const grant: RedisGrant = {
      resource: h.resource,
      units: h.units,
      token: h.token,
      fencingToken,
      grantedAt,
      waitedMs,
      lost: h.ac.signal,
      release: () => this.releaseHeld(h),
      [Symbol.asyncDispose]: async () => {
        await this.releaseHeld(h);
      },
    };
    return grant;
  }

  // ---------------------------------------------------------------- wake-ups

  private onWake(m: WakeMessage): void {
    try {
      if (m.type === 'granted') {
        const w = this.waiting.get(m.id);
        if (!w || w.settled) {
          // Nobody waits for it any more (gave up, failed): hand it straight back.
          const resource = this.gaveUp.get(m.id);
          if (resource !== undefined) void this.cleanupLater(resource, m.id);
          return;
        }
        this.settle(w, true);
        // The grant was made before this message arrived: count its (provisional) TTL from a
        // little before now. It is confirmed for a full lease TTL a third into the provisional
        // TTL if it is still held then (or by an earlier renewal tick), so a short hold costs
        // no command beyond its release.
        const margin = Math.min(1000, m.remainingMs / 10);
        const grant = this.makeGrant(w, m.fencingToken, m.grantedAt, m.waitedMs, performance.now() + m.remainingMs - margin);
        w.resolve(grant);
        const resource = w.resource;
        setTimeout(() => {
          const h = this.held.get(grant.token);
          if (h && !h.ended && !this.closed) void this.confirm(resource, grant.token);
        }, Math.floor(m.remainingMs / 3)).unref();
      } else if (m.type === 'lost') {
        const h = this.held.get(m.token);
        if (h) this.lose(h, m.reason.startsWith('revoked') ? 'revoked' : 'expired', m.reason);
      } else if (m.type === 'expiry') {
        const w = this.waiting.get(m.id);
        if (w && !w.settled && !w.inFlight) this.schedulePoll(w, Math.min(this.pollMs, m.inMs + 5));
      } else {
        const w = this.waiting.get(m.id);
        if (w && !w.settled) {
          this.settle(w);
          w.reject(refusal('nofit', w.req));
        }
      }
    } catch (err) {
      this.backendError(err);
    }
  }


  /** After a reconnect of the subscriber: a grant may have been published while it was away. */
  private recheckAll(): void {
    for (const w of this.waiting.values()) this.schedulePoll(w, 0);
    this.renewAll();
  }

  // ---------------------------------------------------------------- renewal and loss

  /** RENEW of one grant received through pub/sub (its server expiry is provisional). */
  private async confirm(resource: string, token: string): Promise<void> {
    const sentAt = performance.now();
    try {
      const reply = (await this.conn.run(SCRIPTS.renew, this.keysOf(resource), [this.leaseTtlMs, token])) as unknown[];
      this.updateUsage(resource, reply[1] as UsageTuple);
      const h = this.held.get(token);
      if (!h || h.ended) return;
      if (Number((reply[0] as number[])[0]) === 1) {
        h.localExpiry = sentAt + this.leaseTtlMs;
        this.armLostTimer(h);
      } else {
        this.lose(h, 'expired', 'the handed-over lease was gone before it could be confirmed');
      }
    } catch (err) {
      // The regular renewal retries; the lost timer still guards the provisional expiry.
      this.counts.renewalFailures++;
      this.backendError(err);
    }
  }

  private armLostTimer(h: Held): void {
    if (h.lostTimer) clearTimeout(h.lostTimer);
    const ms = Math.max(0, h.localExpiry - performance.now());
    h.lostTimer = setTimeout(() => {
      h.lostTimer = undefined;
      this.lose(h, 'renewal-failed', `the lease could not be renewed before its TTL (${this.leaseTtlMs} ms) ran out`);
    }, ms);
    h.lostTimer.unref();
  }

  private renewAll(): void {
    for (const resource of this.heldByResource.keys()) {
      void this.renewResource(resource).catch((e: unknown) => this.backendError(e));
    }
  }

  /** One RENEW per resource for everything this process holds there. */
  private async renewResource(resource: string): Promise<void> {
    const set = this.heldByResource.get(resource);
    if (!set || set.size === 0 || this.renewing.has(resource) || this.closed) return;
    const tokens = [...set];
    this.renewing.add(resource);
    const sentAt = performance.now();
    let reply: unknown[];
    try {
      reply = (await this.conn.run(SCRIPTS.renew, this.keysOf(resource), [this.leaseTtlMs, ...tokens])) as unknown[];
    } catch (err) {
      this.renewing.delete(resource);
      this.counts.renewalFailures++;
      if (!this.failingSince.has(resource)) this.failingSince.set(resource, sentAt);
      let remainingMs = Infinity;
      for (const t of tokens) {
        const h = this.held.get(t);
        if (h && !h.ended) remainingMs = Math.min(remainingMs, h.localExpiry - performance.now());
      }
      this.safeEmit('renewal-failing', { resource, tokens, error: asUnavailable(err), remainingMs: Math.max(0, remainingMs) });
      // Retry sooner than the normal period while there is time left.
      if (!this.retryTimer && !this.closed) {
        this.retryTimer = setTimeout(
          () => {
            this.retryTimer = undefined;
            this.renewAll();
          },
          Math.max(20, Math.min(500, Math.floor(this.leaseTtlMs / 10))),
        );
        this.retryTimer.unref();
      }
      return;
    }
    this.renewing.delete(resource);
    if (this.failingSince.delete(resource)) this.safeEmit('renewal-recovered', { resource });
    const statuses = reply[0] as number[];
    this.updateUsage(resource, reply[1] as UsageTuple);
    tokens.forEach((t, i) => {
      const h = this.held.get(t);
      if (!h || h.ended) return;
      if (Number(statuses[i]) === 1) {
        h.localExpiry = sentAt + this.leaseTtlMs;
        this.armLostTimer(h);
      } else {
        this.lose(h, 'expired', 'the lease is gone from Redis (expired, revoked, or Redis lost its data)');
      }
    });
  }

  private forget(h: Held): void {
    h.ended = true;
    this.held.delete(h.token);
    const set = this.heldByResource.get(h.resource);
    set?.delete(h.token);
    if (set && set.size === 0) {
      this.heldByResource.delete(h.resource);
      this.failingSince.delete(h.resource);
    }
    if (h.lostTimer) clearTimeout(h.lostTimer);
    h.lostTimer = undefined;
  }

  private lose(h: Held, reason: LeaseLostEvent['reason'], detail: string): void {
    if (h.ended) return;
    this.forget(h);
    this.counts.leasesLost++;
    const err = new GpuArbiterError('E_LEASE_LOST', `Lease on ${h.resource} lost (${reason}): ${detail}`, {
      resource: h.resource,
      fencingToken: h.fencingToken,
      reason,
    });
    try {
      h.ac.abort(err);
    } catch (e) {
      this.backendError(e);
    }
    if (h.onLost) {
      try {
        h.onLost(err);
      } catch (e) {
        this.backendError(e);
      }
    }
    this.safeEmit('lease-lost', { resource: h.resource, token: h.token, fencingToken: h.fencingToken, reason, detail });
  }

  // ---------------------------------------------------------------- release and revoke

  private releaseHeld(h: Held): Promise<ReleaseOutcome> {
    if (h.releasing) return h.releasing.then(() => 'already-released' as const);
    const wasLost = h.ended;
    this.forget(h);
    // A lease already lost may be gone from Redis with no tombstone (Redis lost its data):
    // its own release is then 'already-released', not an ownership violation.
    h.releasing = this.releaseWithRetries(h.resource, h.token, h.fencingToken, wasLost);
    return h.releasing;
  }

  private async releaseWithRetries(resource: string, token: string, fencingToken: number, mayBeGone = false): Promise<ReleaseOutcome> {
    let lastErr: GpuArbiterError | undefined;
    for (let attempt = 0; attempt <= this.releaseRetries; attempt++) {
      if (attempt > 0) await delay(50 * 2 ** (attempt - 1));
      try {
        const reply = (await this.conn.run(SCRIPTS.release, this.keysOf(resource), [token, mayBeGone ? '1' : '0'])) as unknown[];
        this.updateUsage(resource, reply[1] as UsageTuple);
        const outcome = reply[0] as ReleaseOutcome;
        if (outcome === 'not-owner') this.counts.ownershipViolations++;
        return outcome;
      } catch (err) {
        lastErr = asUnavailable(err);
        if (isGpuArbiterError(err, 'E_CLOSED')) break;
      }
    }
    this.counts.releaseFailures++;
    const event: CriticalFailureEvent = {
      kind: 'release-failed',
      resource,
      token,
      fencingToken,
      attempts: this.releaseRetries + 1,
      error: lastErr ?? unavailable('release failed'),
    };
    this.safeEmit('critical-failure', event);
    if (this.onCriticalFailure) {
      try {
        this.onCriticalFailure(event);
      } catch (e) {
        this.backendError(e);
      }
    }
    return 'release-failed';
  }

  /**
   * Releases by token (the contract's release). Owner-checked in Redis: a token that does not
   * own a lease there is refused ('not-owner') and counted. Async: one round trip.
   */
  async release(resource: string, token: string): Promise<ReleaseOutcome> {
    this.assertOpen();
    nonEmptyString('resource', resource);
    if (typeof token !== 'string') throw invalid('token', 'a string', token);
    const h = this.held.get(token);
    if (h && h.resource === resource) return this.releaseHeld(h);
    return this.releaseWithRetries(resource, token, -1);
  }

  /** Takes a lease away (admin). Its holder's lost signal fires (through pub/sub when it is elsewhere). */
  async revoke(resource: string, token: string, reason: string): Promise<'revoked' | 'not-found'> {
    this.assertOpen();
    nonEmptyString('resource', resource);
    nonEmptyString('token', token);
    const why = typeof reason === 'string' ? reason.replace(/\|/g, '/') : 'revoked';
    const reply = (await this.conn.run(SCRIPTS.revoke, this.keysOf(resource), [token, why])) as unknown[];
    this.updateUsage(resource, reply[1] as UsageTuple);
    const h = this.held.get(token);
    if (h) this.lose(h, 'revoked', `revoked: ${why}`);
    return reply[0] as 'revoked' | 'not-found';
  }

  // ---------------------------------------------------------------- views

  /**
   * Everything about the namespace's resources, from Redis (async: it reads the server). With
   * `resources`, only those (one script each, no namespace listing): what an arbiter re-reads on
   * every sample, whatever the number of other nodes' GPUs in the namespace.
   */
  async inspect(options: { resources?: readonly string[] } = {}): Promise<RedisInspectView> {
    this.assertOpen();
    const names = new Set<string>(options.resources ?? this.known);
    if (options.resources === undefined) {
      const nsKey = namespaceKeys(this.namespace).resources;
      for (const r of await this.conn.command('SMEMBERS', (c) => c.smembers(nsKey))) names.add(r);
    }
    const resources: InspectResource[] = [];
    for (const resource of [...names].sort()) {
      const reply = (await this.conn.run(SCRIPTS.inspect, this.keysOf(resource), [])) as unknown[];
      resources.push(this.inspectResource(resource, reply));
    }
    return { kind: 'redis', namespace: this.namespace, resources, ownershipViolations: this.counts.ownershipViolations };
  }

  private inspectResource(resource: string, reply: unknown[]): InspectResource {
    const usage = this.updateUsage(resource, reply[0] as UsageTuple);
    const holders = (reply[1] as Array<[string, string, number]>).map(([token, raw, exp]) => {
      const h = parseJson(raw);
      return {
        token,
        fencingToken: Number(h.f),
        units: Number(h.u),
        grantedAt: Number(h.at),
        expiresAt: Number(exp),
        holder: parseHolder(h.h),
      };
    });
    holders.sort((a, b) => a.fencingToken - b.fencingToken);
    const waiters = (reply[2] as Array<[string, string, string]>).map(([, raw], position) => {
      const w = parseJson(raw);
      return {
        position,
        units: Number(w.u),
        priority: Number(w.p),
        enqueuedAt: Number(w.at),
        deadline: Number(w.dl) > 0 ? Number(w.dl) : null,
        holder: parseHolder(w.h),
      };
    });
    return { resource, ...usage, holders, waiters, ownershipViolations: Number(reply[3]) };
  }

  private updateUsage(resource: string, t: UsageTuple | undefined): ResourceUsage {
    const u: ResourceUsage = t
      ? {
          capacity: Number(t[0]),
          external: Number(t[1]),
          declared: Number(t[2]),
          closed: Number(t[3]) === 1,
          waiting: Number(t[4]),
          headPriority: Number(t[5]) >= 0 ? Number(t[5]) : null,
        }
      : { capacity: -1, external: 0, declared: 0, closed: false, waiting: 0, headPriority: null };
    if (u.capacity >= 0) this.usageCache.set(resource, u);
    return u;
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Stops: pending acquires reject with E_CLOSED (and leave the queue), held leases are
   * released (their lost signals fire with reason 'closed'), connections we opened are closed.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const work: Array<Promise<unknown>> = [];
    for (const w of [...this.waiting.values()]) {
      this.settle(w);
      w.reject(new GpuArbiterError('E_CLOSED', 'The Redis backend was closed while waiting', { resource: w.resource }));
      work.push(this.cleanupLater(w.resource, w.id));
    }
    for (const h of [...this.held.values()]) {
      const token = h.token;
      this.lose(h, 'closed', 'the backend was closed');
      work.push(this.releaseOnce(h.resource, token));
    }
    await Promise.allSettled(work);
    this.closed = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.subscriber?.close();
    await this.conn.close();
  }

  private async releaseOnce(resource: string, token: string): Promise<void> {
    try {
      await this.conn.run(SCRIPTS.release, this.keysOf(resource), [token, '1']);
    } catch {
      // the lease ends by its TTL
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------- helpers

  private keysOf(resource: string): string[] {
    return resourceKeyList(resourceKeys(this.namespace, resource));
  }

  private assertOpen(): void {
    if (this.closed) throw new GpuArbiterError('E_CLOSED', 'The Redis backend is closed');
  }

  private markDown(err: Error | null): void {
    if (this.down || this.closed) return;
    this.down = true;
    this.safeEmit('backend-down', err);
  }

  private markUp(): void {
    if (!this.down || this.closed) return;
    this.down = false;
    this.safeEmit('backend-up');
    this.recheckAll();
  }

  private backendError(err: unknown): void {
    this.safeEmit('backend-error', err instanceof Error ? err : new Error(String(err)));
  }

  // A throwing listener must not break a timer or the subscriber.
  private safeEmit<K extends keyof RedisLeasesEvents>(event: K, ...args: RedisLeasesEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      if (event !== 'backend-error') this.backendError(err);
    }
  }
}
