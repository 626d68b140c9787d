// What every part of RedisLeases shares: the command connection, the checked options, the
// closed flag, the counters, the usage cache every script reply refreshes, and the one way
// events are emitted (a throwing listener never breaks a timer or the subscriber).
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import { GpuArbiterError } from '../../errors';
import type { RedisConnection } from './connection';
import { poolKeyList, resourceGroup, resourceKeyList, resourceKeys } from './keys';
import type { LeasesConfig } from './options';
import { type UsageTuple, usageOf } from './replies';
import type { LuaScript } from './scripts';
import type { RedisLeasesEvents, ResourceUsage } from './types';

/** Resources whose script keys are kept built (./core.ts run()). */
const KEY_CACHE_MAX = 1024;

export class LeasesCore {
  /** Set by close() once pending work is settled; nothing new starts after it. */
  closed = false;
  readonly counts = { ownershipViolations: 0, releaseFailures: 0, renewalFailures: 0, leasesLost: 0 };
  private readonly usageCache = new Map<string, ResourceUsage>();
  /**
   * The Redis server clock as an offset from performance.now(), from the script reply with the
   * shortest round trip of the last 30 s (its error is at most half that round trip); null until
   * a reply carried the server's time. Used to tell how old a published grant is on arrival.
   */
  private clock: { offset: number; rtt: number; at: number } | null = null;

  constructor(
    readonly conn: RedisConnection,
    readonly config: LeasesConfig,
    /** This instance's wake-up channel (scripts publish grants and losses for it there). */
    readonly channel: string,
    private readonly emitter: EventEmitter<RedisLeasesEvents>,
  ) {}

  /**
   * The pool epoch this process last saw ('' until a reply carried one): sent with every acquire,
   * so that Redis tells a pool whose data it lost from a new one (poolEpoch() in ./lua/prelude.ts).
   */
  poolEpoch = '';

  /** The keys of a per-resource script: the resource's 8, and the pool's 6 for a pool GPU. */
  keysOf(resources: readonly string[]): string[] {
    const ns = this.config.namespace;
    const keys = resources.flatMap((r) => resourceKeyList(resourceKeys(ns, r)));
    return resourceGroup(resources[0]!) === null ? keys : [...keys, ...poolKeyList(ns)];
  }

  /** Runs a per-resource script with the resource's keys (./lua/prelude.ts). */
  run(script: LuaScript, resource: string, args: Array<string | number>): Promise<unknown> {
    let keys = this.keyCache.get(resource);
    if (!keys) {
      // Built once per resource (every acquire, release and renewal sends them); bounded, so
      // releases by token over many names cannot grow it without end.
      if (this.keyCache.size >= KEY_CACHE_MAX) this.keyCache.clear();
      keys = this.keysOf([resource]);
      this.keyCache.set(resource, keys);
    }
    return this.conn.run(script, keys, args);
  }

  /** resource -> its script keys (read-only: conn.run copies them into the command). */
  private readonly keyCache = new Map<string, readonly string[]>();

  /** Remembers the pool epoch a reply carried (never forgets one for an empty answer). */
  notePoolEpoch(epoch: unknown): void {
    if (typeof epoch === 'string' && epoch !== '') this.poolEpoch = epoch;
    else if (typeof epoch === 'number') this.poolEpoch = String(epoch);
  }

  /** util.inspect(): the masked target and the figures, never the connection's options or the raw target. */
  [inspect.custom](_depth: number, options: { stylize(s: string, style: string): string }): string {
    const fields = { namespace: this.config.namespace, target: this.conn.shownTarget, channel: this.channel, closed: this.closed, counts: this.counts };
    return `${options.stylize('LeasesCore', 'special')} ${inspect(fields, { ...options, depth: 2 } as never)}`;
  }

  assertOpen(): void {
    if (this.closed) throw new GpuArbiterError('E_CLOSED', 'The Redis backend is closed');
  }

  /** Caches the usage tuple a script replied with (an unknown resource is not cached). */
  updateUsage(resource: string, t: UsageTuple | undefined): ResourceUsage {
    const u = usageOf(t);
    if (t !== undefined && t.length > 6) this.notePoolEpoch(t[6]);
    if (u.capacity >= 0) this.usageCache.set(resource, u);
    return u;
  }

  usage(resource: string): ResourceUsage | null {
    return this.usageCache.get(resource) ?? null;
  }

  /** A reply sent at `sentAt` and received at `receivedAt` (performance.now()) said the server's time was `serverMs`. */
  noteServerTime(serverMs: number, sentAt: number, receivedAt: number): void {
    if (!Number.isFinite(serverMs)) return;
    const rtt = receivedAt - sentAt;
    const c = this.clock;
    if (c && rtt > c.rtt && receivedAt - c.at < 30_000) return;
    this.clock = { offset: serverMs - (sentAt + receivedAt) / 2, rtt, at: receivedAt };
  }

  /** Estimated ms from now until the server's clock reads `serverMs` (negative: passed); null when unknown. */
  serverMsUntil(serverMs: number): number | null {
    return this.clock ? serverMs - (performance.now() + this.clock.offset) : null;
  }

  backendError(err: unknown): void {
    this.emit('backend-error', err instanceof Error ? err : new Error(String(err)));
  }

  // A throwing listener must not break a timer or the subscriber.
  emit<K extends keyof RedisLeasesEvents>(event: K, ...args: RedisLeasesEvents[K]): void {
    try {
      (this.emitter.emit as (e: string, ...a: unknown[]) => boolean).call(this.emitter, event, ...args);
    } catch (err) {
      if (event !== 'backend-error') this.backendError(err);
    }
  }
}
