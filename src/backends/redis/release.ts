// Ending leases and waiter places on the server, with retries: a release is retried
// `releaseRetries` times (backoff 50, 100, 200... ms); when every try failed it is counted
// (releaseFailures) and reported as a critical failure ('critical-failure' event and the
// onCriticalFailure option): the lease then ends by its TTL. A waiter that gave up leaves the
// queue the same way (LEAVE, which also undoes a grant made meanwhile), silently.
import { isGpuArbiterError } from '../../errors';
import type { LeasesCore } from './core';
import type { Held, HeldLeases } from './held';
import { poolKeyList } from './keys';
import { asUnavailable, delay } from './replies';
import type { UsageTuple } from './replies';
import { SCRIPTS } from './scripts';
import type { CriticalFailureEvent, ReleaseOutcome } from './types';

type Tried<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Runs `once` up to 1 + retries times, 50 * 2^n ms apart, until it succeeds or `stop(err)` says give up. */
async function retrying<T>(retries: number, once: () => Promise<T>, stop: (err: unknown) => boolean): Promise<Tried<T>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return { ok: true, value: await once() };
    } catch (err) {
      if (attempt >= retries || stop(err)) return { ok: false, error: err };
      await delay(50 * 2 ** attempt);
    }
  }
}

export class Releases {
  constructor(
    private readonly core: LeasesCore,
    private readonly held: HeldLeases,
  ) {}

  /** grant.release(): ends a lease this process holds; a second call resolves 'already-released'. */
  lease(h: Held): Promise<ReleaseOutcome> {
    if (h.releasing) return h.releasing.then(() => 'already-released' as const);
    const wasLost = h.ended;
    this.held.forget(h);
    // A lease already lost may be gone from Redis with no tombstone (Redis lost its data):
    // its own release is then 'already-released', not an ownership violation.
    h.releasing = this.byToken(h.resource, h.token, h.fencingToken, wasLost);
    return h.releasing;
  }

  /**
   * RELEASE by token, with retries. `fencingToken` > 0: the caller's own lease (Redis then tells
   * a lease its data loss took from a forged token); -1: a release by token only. A lease held
   * by another instance ends as a revoke does (its holder is told at once); a token that owns
   * nothing there is refused ('not-owner') and counted.
   */
  async byToken(resource: string, token: string, fencingToken: number, mayBeGone = false): Promise<ReleaseOutcome> {
    const { releaseRetries } = this.core.config;
    const args = [token, mayBeGone ? '1' : '0', fencingToken > 0 ? fencingToken : -1, this.core.channel];
    const tried = await retrying(
      releaseRetries,
      async () => {
        const reply = (await this.core.run(SCRIPTS.release, resource, args)) as unknown[];
        this.core.updateUsage(resource, reply[1] as UsageTuple);
        const outcome = reply[0] as ReleaseOutcome;
        if (outcome === 'not-owner') this.core.counts.ownershipViolations++;
        return outcome;
      },
      (err) => isGpuArbiterError(err, 'E_CLOSED'),
    );
    if (tried.ok) return tried.value;
    this.core.counts.releaseFailures++;
    const event: CriticalFailureEvent = {
      kind: 'release-failed',
      resource,
      token,
      fencingToken,
      attempts: releaseRetries + 1,
      error: asUnavailable(tried.error),
    };
    this.core.emit('critical-failure', event);
    const { onCriticalFailure } = this.core.config;
    if (onCriticalFailure) {
      try {
        onCriticalFailure(event);
      } catch (e) {
        this.core.backendError(e);
      }
    }
    return 'release-failed';
  }

  /** LEAVE: removes a waiter (or the grant it got) in the background; retried, else its TTL removes it. */
  leave(resource: string, id: string): Promise<void> {
    return retrying(
      this.core.config.releaseRetries,
      async () => {
        const reply = (await this.core.run(SCRIPTS.leave, resource, [id])) as unknown[];
        this.core.updateUsage(resource, reply[1] as UsageTuple);
      },
      () => this.core.closed,
    ).then(
      () => undefined,
      (e: unknown) => this.core.backendError(e),
    );
  }

  /** A cluster-scope waiter leaves the pool's queue (POOL_LEAVE: a grant made meanwhile is given back), silently. */
  leavePool(id: string): Promise<void> {
    return retrying(
      this.core.config.releaseRetries,
      () => this.core.conn.run(SCRIPTS.poolLeave, poolKeyList(this.core.config.namespace), [id]),
      () => this.core.closed,
    ).then(
      () => undefined,
      (e: unknown) => this.core.backendError(e),
    );
  }

  /** One RELEASE at close, no retry: a lease not released then ends by its TTL. */
  async once(resource: string, token: string): Promise<void> {
    try {
      await this.core.run(SCRIPTS.release, resource, [token, '1', -1, this.core.channel]);
    } catch {
      // the lease ends by its TTL
    }
  }
}
