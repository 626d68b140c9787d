// The leases this process holds: the grant objects handed to callers, the local expiry each is
// surely still ours until (a lost timer fires at it), and loss: forget, count, abort the grant's
// `lost` signal, call onLost, emit 'lease-lost'. Renewal (./renewal.ts) moves the local expiry
// on; release (./release.ts) ends a lease; both reach leases only through this registry.
import { performance } from 'node:perf_hooks';
import { GpuArbiterError } from '../../errors';
import type { LeasesCore } from './core';
import type { LeaseLostEvent, RedisGrant, ReleaseOutcome } from './types';

export interface Held {
  resource: string;
  units: number;
  token: string;
  fencingToken: number;
  /** Made when the grant's `lost` is first read (most short holds never read it). */
  ac: AbortController | undefined;
  /** Why the lease was lost, kept for a `lost` read after the loss. */
  lostError: GpuArbiterError | undefined;
  /** performance.now() before which the lease is surely still ours on the server. */
  localExpiry: number;
  ended: boolean;
  releasing: Promise<ReleaseOutcome> | undefined;
  onLost: ((e: GpuArbiterError) => void) | undefined;
}

/** What the registry needs from the parts above it (given as functions: no import circle). */
export interface HeldHooks {
  /** Ends a lease on the server (grant.release() and its async dispose). */
  release(h: Held): Promise<ReleaseOutcome>;
  /** The last lease of `resource` ended here. */
  resourceEmpty(resource: string): void;
}

/** A grant being made: the waiter it was made to. */
export interface NewGrant {
  resource: string;
  units: number;
  /** The waiter's id, which is the lease token. */
  token: string;
  onLost: ((e: GpuArbiterError) => void) | undefined;
}

/** The lease's lost signal, made on first use (already aborted when the lease was lost before). */
function lostSignal(h: Held): AbortSignal {
  if (!h.ac) {
    h.ac = new AbortController();
    if (h.lostError) h.ac.abort(h.lostError);
  }
  return h.ac.signal;
}

function* nonEmpty(byResource: Map<string, Set<string>>): IterableIterator<string> {
  for (const [resource, tokens] of byResource) if (tokens.size > 0) yield resource;
}

export class HeldLeases {
  private readonly held = new Map<string, Held>();
  /** resource -> tokens held there; a set left empty is kept for the next grant (no churn per lease). */
  private readonly byResource = new Map<string, Set<string>>();

  constructor(
    private readonly core: LeasesCore,
    private readonly hooks: HeldHooks,
  ) {}

  get(token: string): Held | undefined {
    return this.held.get(token);
  }

  all(): Held[] {
    return [...this.held.values()];
  }

  /** Resources where this process holds something. */
  resources(): IterableIterator<string> {
    return nonEmpty(this.byResource);
  }

  /** Tokens held on `resource` (a copy). */
  tokensOf(resource: string): string[] {
    return [...(this.byResource.get(resource) ?? [])];
  }

  /** Records a grant and returns the caller's RedisGrant; the lease is ours until `localExpiry` unless renewed. */
  add(g: NewGrant, fencingToken: number, grantedAt: number, waitedMs: number, localExpiry: number): RedisGrant {
    const h: Held = {
      resource: g.resource,
      units: g.units,
      token: g.token,
      fencingToken,
      ac: undefined,
      lostError: undefined,
      localExpiry,
      ended: false,
      releasing: undefined,
      onLost: g.onLost,
    };
    this.held.set(h.token, h);
    let set = this.byResource.get(h.resource);
    if (!set) {
      set = new Set();
      this.byResource.set(h.resource, set);
    }
    set.add(h.token);
    this.armLostTimer(h);
    const grant: RedisGrant = {
      resource: h.resource,
      units: h.units,
      token: h.token,
      fencingToken,
      grantedAt,
      waitedMs,
      get lost(): AbortSignal {
        return lostSignal(h);
      },
      release: () => this.hooks.release(h),
      [Symbol.asyncDispose]: async () => {
        await this.hooks.release(h);
      },
    };
    return grant;
  }

  /**
   * Makes sure the lease is given up as lost at its local expiry (after a grant, or a renewal
   * moved it). One timer serves every lease: it is armed for the earliest local expiry and, when
   * it fires, gives up each lease whose expiry has passed and arms itself for the next. A lease
   * released or renewed meanwhile costs no timer work (the timer finds nothing due and moves on).
   */
  armLostTimer(h: Held): void {
    if (this.lostAt <= h.localExpiry) return;
    this.armAt(h.localExpiry);
  }

  /** performance.now() the lost timer fires at (Infinity: not armed). */
  private lostAt = Infinity;
  private lostTimer: NodeJS.Timeout | undefined;

  private armAt(at: number): void {
    if (this.lostTimer) clearTimeout(this.lostTimer);
    this.lostAt = at;
    this.lostTimer = setTimeout(() => this.expireDue(), Math.max(0, at - performance.now()));
    this.lostTimer.unref();
  }

  /** The lost timer fired: every lease past its local expiry is lost; re-armed for the next one. */
  private expireDue(): void {
    this.lostTimer = undefined;
    this.lostAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const h of [...this.held.values()]) {
      if (h.localExpiry <= now) {
        this.lose(h, 'renewal-failed', `the lease could not be renewed before its TTL (${this.core.config.leaseTtlMs} ms) ran out`);
      } else if (h.localExpiry < next) {
        next = h.localExpiry;
      }
    }
    if (next < Infinity) this.armAt(next);
  }

  /** Drops a lease from the registry (no event): it is being released, or lost. */
  forget(h: Held): void {
    h.ended = true;
    this.held.delete(h.token);
    const set = this.byResource.get(h.resource);
    if (set?.delete(h.token) && set.size === 0) this.hooks.resourceEmpty(h.resource);
  }

  /** The lease is gone: its lost signal aborts, onLost runs, 'lease-lost' is emitted (once). */
  lose(h: Held, reason: LeaseLostEvent['reason'], detail: string): void {
    if (h.ended) return;
    this.forget(h);
    this.core.counts.leasesLost++;
    const err = new GpuArbiterError('E_LEASE_LOST', `Lease on ${h.resource} lost (${reason}): ${detail}`, {
      resource: h.resource,
      fencingToken: h.fencingToken,
      reason,
    });
    h.lostError = err;
    try {
      h.ac?.abort(err);
    } catch (e) {
      this.core.backendError(e);
    }
    if (h.onLost) {
      try {
        h.onLost(err);
      } catch (e) {
        this.core.backendError(e);
      }
    }
    this.core.emit('lease-lost', { resource: h.resource, token: h.token, fencingToken: h.fencingToken, reason, detail });
  }
}
