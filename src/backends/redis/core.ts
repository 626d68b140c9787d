// What every part of RedisLeases shares: the command connection, the checked options, the
// closed flag, the counters, the usage cache every script reply refreshes, and the one way
// events are emitted (a throwing listener never breaks a timer or the subscriber).
import type { EventEmitter } from 'node:events';
import { GpuArbiterError } from '../../errors';
import type { RedisConnection } from './connection';
import { resourceKeyList, resourceKeys } from './keys';
import type { LeasesConfig } from './options';
import { type UsageTuple, usageOf } from './replies';
import type { LuaScript } from './scripts';
import type { RedisLeasesEvents, ResourceUsage } from './types';

export class LeasesCore {
  /** Set by close() once pending work is settled; nothing new starts after it. */
  closed = false;
  readonly counts = { ownershipViolations: 0, releaseFailures: 0, renewalFailures: 0, leasesLost: 0 };
  private readonly usageCache = new Map<string, ResourceUsage>();

  constructor(
    readonly conn: RedisConnection,
    readonly config: LeasesConfig,
    /** This instance's wake-up channel (scripts publish grants and losses for it there). */
    readonly channel: string,
    private readonly emitter: EventEmitter<RedisLeasesEvents>,
  ) {}

  /** Runs a per-resource script with the resource's 8 keys. */
  run(script: LuaScript, resource: string, args: Array<string | number>): Promise<unknown> {
    return this.conn.run(script, resourceKeyList(resourceKeys(this.config.namespace, resource)), args);
  }

  assertOpen(): void {
    if (this.closed) throw new GpuArbiterError('E_CLOSED', 'The Redis backend is closed');
  }

  /** Caches the usage tuple a script replied with (an unknown resource is not cached). */
  updateUsage(resource: string, t: UsageTuple | undefined): ResourceUsage {
    const u = usageOf(t);
    if (u.capacity >= 0) this.usageCache.set(resource, u);
    return u;
  }

  usage(resource: string): ResourceUsage | null {
    return this.usageCache.get(resource) ?? null;
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
