// RedisLeases: the Redis backend. Leases on weighted resources shared by every process on every
// host that talks to one Redis (or Redis Cluster). All state lives in Redis and changes only
// through the Lua scripts of ./lua (one script per change, atomic; gathered in ./scripts.ts).
// This class is the public face; the local side lives in its parts:
//   ./waiters.ts    waiting promises: ACQUIRE, heartbeats, wake-ups through the subscriber
//   ./held.ts       the leases this process holds, their grants and their loss
//   ./renewal.ts    renewal every TTL/3; renewal failing (event) vs lease lost
//   ./release.ts    releases and LEAVEs with retries; critical failures
//   ./resources.ts  settings (replayed after a data loss), the namespace's list, inspect()
//   ./core.ts       what they share: connection, options, counters, usage cache, events
// The architecture and the backend's invariants: docs/design.md ("redis").
//
// Everything here runs on the JS thread. Timers never throw: their failures become events.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { GpuArbiterError } from '../../errors';
import { RedisConnection } from './connection';
import { LeasesCore } from './core';
import { HeldLeases } from './held';
import { wakeChannel } from './keys';
import { checkResource, checkToken, MAX_REASON_LENGTH } from './limits';
import { parseLeasesOptions } from './options';
import { Releases } from './release';
import { Renewal } from './renewal';
import { withDeadline } from './replies';
import type { UsageTuple } from './replies';
import { type CheckedRequest, type CheckedSetRequest, checkRequest, checkSetRequest } from './request';
import { Resources } from './resources';
import { SCRIPTS } from './scripts';
import { WakeSubscriber } from './subscriber';
import { SetWaiters } from './set-waiters';
import { PoolWaiters } from './pool-waiters';
import { checkPoolRequest, type CheckedPoolRequest } from './pool-request';
import type { RedisPoolGrant, RedisPoolRequest } from './pool-types';
import { Waiters } from './waiters';
import type {
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

  private readonly core: LeasesCore;
  private readonly held: HeldLeases;
  private readonly renewal: Renewal;
  private readonly releases: Releases;
  private readonly resources: Resources;
  private readonly waiters: Waiters;
  private readonly setWaiters: SetWaiters;
  private readonly poolWaiters: PoolWaiters;
  private subscriber: WakeSubscriber | undefined;
  private down = false;

  /** Connects (and subscribes to this instance's wake-up channel) and returns a ready backend. */
  static async open(options: RedisLeasesOptions): Promise<RedisLeases> {
    const leases = new RedisLeases(options);
    try {
      await leases.start(leases.core.config.connectTimeoutMs);
    } catch (err) {
      await leases.close().catch(() => undefined);
      throw err;
    }
    return leases;
  }

  private constructor(options: RedisLeasesOptions) {
    super();
    const config = parseLeasesOptions(options);
    this.namespace = config.namespace;
    this.leaseTtlMs = config.leaseTtlMs;
    this.waiterTtlMs = config.waiterTtlMs;
    this.pollMs = config.pollMs;
    this.releaseRetries = config.releaseRetries;
    this.channel = wakeChannel(this.namespace, this.instanceId);
    const core = new LeasesCore(RedisConnection.create(config.target, config.commandTimeoutMs), config, this.channel, this);
    this.core = core;
    this.held = new HeldLeases(core, {
      release: (h) => this.releases.lease(h),
      resourceEmpty: (resource) => this.renewal.forgetResource(resource),
    });
    this.renewal = new Renewal(core, this.held);
    this.releases = new Releases(core, this.held);
    this.resources = new Resources(core);
    const parts = { held: this.held, renewal: this.renewal, releases: this.releases, resources: this.resources };
    this.waiters = new Waiters(core, parts);
    this.setWaiters = new SetWaiters(core, parts);
    this.poolWaiters = new PoolWaiters(core, this.held, this.releases);
  }

  private async start(connectTimeoutMs: number): Promise<void> {
    const client = this.core.conn.client;
    client.on('error', () => undefined); // surfaced through failed commands and 'backend-down'
    client.on('close', () => this.markDown(null));
    client.on('ready', () => this.markUp());
    await this.core.conn.waitReady(connectTimeoutMs);
    const sub = new WakeSubscriber(
      this.core.conn.duplicate(),
      this.channel,
      (m) => {
        if (m.type === 'expiry' && this.poolWaiters.has(m.id)) this.poolWaiters.onWake(m.id);
        else if (m.type === 'expiry' && this.setWaiters.has(m.id)) this.setWaiters.onExpiry(m.id, m.inMs);
        else this.waiters.onWake(m);
      },
      () => this.recheckAll(),
    );
    this.subscriber = sub;
    await withDeadline(sub.start(), connectTimeoutMs, 'subscribe');
    this.renewal.start();
  }

  /** True while the command connection is up. */
  get available(): boolean {
    return !this.core.closed && this.core.conn.ready;
  }

  /** util.inspect(): what this instance is, with its Redis target masked (never a password). */
  [inspect.custom](_depth: number, options: { stylize(s: string, style: string): string }): string {
    const fields = {
      namespace: this.namespace,
      target: this.core.conn.shownTarget,
      instanceId: this.instanceId,
      available: this.available,
      leaseTtlMs: this.leaseTtlMs,
      held: this.held.all().length,
      counters: this.counters(),
    };
    return `${options.stylize('RedisLeases', 'special')} ${inspect(fields, { ...options, depth: 2 } as never)}`;
  }

  /** Failure and loss counters of this process. */
  counters(): RedisLeasesCounters {
    return { ...this.core.counts, scriptLoads: this.core.conn.scriptLoads };
  }

  get ownershipViolations(): number {
    return this.core.counts.ownershipViolations;
  }
  get releaseFailures(): number {
    return this.core.counts.releaseFailures;
  }
  get renewalFailures(): number {
    return this.core.counts.renewalFailures;
  }

  /** The ioredis client used for commands (for tests and views; do not change its state). */
  get client(): RedisConnection['client'] {
    return this.core.conn.client;
  }

  // ---------------------------------------------------------------- resources

  /** Creates or changes a resource. Waiters that now fit are granted; those that never can are refused. */
  setResource(resource: string, settings: ResourceSettings): Promise<ResourceUsage> {
    return this.resources.set(resource, settings);
  }

  /** Cached usage of a resource (synchronous): refreshed by every script reply this process gets. */
  usage(resource: string): ResourceUsage | null {
    return this.core.usage(resource);
  }

  // ---------------------------------------------------------------- acquire

  /**
   * Waits for `units` of `resource`. Rejects with E_DOES_NOT_FIT (more than the capacity),
   * E_TIMEOUT (deadline), E_ABORTED (signal), E_QUEUE_FULL, E_CLOSED, or
   * E_BACKEND_UNAVAILABLE (Redis unreachable: nothing is granted on a guess).
   */
  acquire(request: RedisAcquireRequest): Promise<RedisGrant> {
    let req: CheckedRequest;
    try {
      this.core.assertOpen();
      req = checkRequest(request);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.waiters.enqueue(req);
  }

  /**
   * All of `resources` (2 to 16 of one group, e.g. one node's GPUs `<nodeId>/gpu<i>`), `units`
   * of each, granted in one step or not at all: no client ever sees a part of it held, and two
   * such requests never deadlock (./lua/acquire-set.ts). Resolves with one lease per resource,
   * in the order asked, each renewed and released as any lease. Rejects as acquire() does.
   */
  acquireSet(resources: readonly string[], request: Omit<RedisAcquireRequest, 'resource'>): Promise<RedisGrant[]> {
    let checked: CheckedSetRequest;
    try {
      this.core.assertOpen();
      checked = checkSetRequest(resources, request);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.setWaiters.enqueue(checked);
  }

  /**
   * Cluster scope: `units` of each of `gpus` GPUs of any one live node of the namespace (the
   * pool) whose labels match, placed by Redis over every live node in one step (binpack or
   * spread). A request that fits no node now waits in the pool's one queue (priority, then
   * arrival) and is granted on whichever node frees first. Rejects with E_DOES_NOT_FIT (fits no
   * live node even when idle), E_NO_DEVICE (no live node), and as acquire() does. Each GPU is a
   * lease of its own, on `<nodeId>/gpu<i>`: the same ledger node-scope processes use.
   */
  acquirePool(request: RedisPoolRequest): Promise<RedisPoolGrant> {
    let checked: CheckedPoolRequest;
    try {
      this.core.assertOpen();
      checked = checkPoolRequest(request);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.poolWaiters.enqueue(checked);
  }

  // ---------------------------------------------------------------- release and revoke

  /**
   * Releases by token (the contract's release). Async: one round trip.
   * - A lease this instance holds: released ('released'; 'already-released' the second time).
   * - A lease another client holds (another process, host or instance): ended exactly as
   *   {@link revoke} ends it, and 'released': its holder is told at once (pub/sub), its `lost`
   *   aborts with an E_LEASE_LOST error whose reason is 'revoked'. Nobody's hold ends silently.
   * - A token that holds nothing there: 'already-released' when its lease ended within the
   *   tombstone window (an hour), else refused ('not-owner') and counted (ownershipViolations).
   * Refuses with E_INVALID_ARGUMENT an empty token or one over 128 characters, and a resource
   * name that cannot exist (over 256 characters, or with `{` or `}`).
   */
  async release(resource: string, token: string): Promise<ReleaseOutcome> {
    this.core.assertOpen();
    checkResource('resource', resource);
    checkToken('token', token);
    const h = this.held.get(token);
    if (h && h.resource === resource) return this.releases.lease(h);
    return this.releases.byToken(resource, token, -1);
  }

  /**
   * Takes a lease away (admin): 'revoked', or 'not-found' when nothing holds that token. Its
   * holder's lost signal fires at once with reason 'revoked' (through pub/sub when it is
   * elsewhere). {@link release} by token from a client that is not the holder does the same.
   * `reason` (at most 256 characters kept) travels to the holder in the loss's detail.
   */
  async revoke(resource: string, token: string, reason: string): Promise<'revoked' | 'not-found'> {
    this.core.assertOpen();
    checkResource('resource', resource);
    checkToken('token', token);
    const why = typeof reason === 'string' ? reason.slice(0, MAX_REASON_LENGTH).replace(/\|/g, '/') : 'revoked';
    const reply = (await this.core.run(SCRIPTS.revoke, resource, [token, why])) as unknown[];
    this.core.updateUsage(resource, reply[1] as UsageTuple);
    const h = this.held.get(token);
    if (h) this.held.lose(h, 'revoked', `revoked: ${why}`);
    return reply[0] as 'revoked' | 'not-found';
  }

  // ---------------------------------------------------------------- views

  /**
   * Everything about the namespace's resources, from Redis (async: it reads the server). With
   * `resources`, only those (one script each, no namespace listing): what an arbiter re-reads on
   * every sample, whatever the number of other nodes' GPUs in the namespace.
   */
  inspect(options: { resources?: readonly string[] } = {}): Promise<RedisInspectView> {
    return this.resources.inspect(options);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Stops: pending acquires reject with E_CLOSED (and leave the queue), held leases are
   * released (their lost signals fire with reason 'closed'), connections we opened are closed.
   */
  async close(): Promise<void> {
    if (this.core.closed) return;
    const closing = (resource: string) => new GpuArbiterError('E_CLOSED', 'The Redis backend was closed while waiting', { resource });
    const work: Array<Promise<unknown>> = [...this.waiters.closeAll(closing), ...this.setWaiters.closeAll(closing), ...this.poolWaiters.closeAll(closing)];
    for (const h of this.held.all()) {
      const token = h.token;
      this.held.lose(h, 'closed', 'the backend was closed');
      work.push(this.releases.once(h.resource, token));
    }
    await Promise.allSettled(work);
    this.core.closed = true;
    this.renewal.stop();
    await this.subscriber?.close();
    await this.core.conn.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------- connection state

  /** After a reconnect: a grant may have been published while the subscriber was away. */
  private recheckAll(): void {
    this.waiters.recheckAll();
    this.setWaiters.recheckAll();
    this.poolWaiters.recheckAll();
    this.renewal.renewAll();
  }

  private markDown(err: Error | null): void {
    if (this.down || this.core.closed) return;
    this.down = true;
    this.core.emit('backend-down', err);
  }

  private markUp(): void {
    if (!this.down || this.core.closed) return;
    this.down = false;
    this.core.emit('backend-up');
    this.recheckAll();
  }
}
