// Renewal of what this process holds: one RENEW per resource every leaseTtlMs / 3 for all its
// leases there. A failed renewal is 'renewal-failing' (the lease is not lost yet: retried sooner,
// until the lease's local expiry, when ./held.ts gives it up as 'renewal-failed'); the first
// success after it is 'renewal-recovered'. A token Redis no longer has is lost ('expired').
// A grant handed over through pub/sub has a provisional TTL on the server: it is confirmed
// (one RENEW) a third into that TTL if it is still held then.
import { performance } from 'node:perf_hooks';
import type { LeasesCore } from './core';
import type { HeldLeases } from './held';
import { asUnavailable } from './replies';
import type { UsageTuple } from './replies';
import { SCRIPTS } from './scripts';

export class Renewal {
  /** Resources with a RENEW in flight. */
  private readonly renewing = new Set<string>();
  /** Resources whose renewal is failing -> performance.now() of the first failure. */
  private readonly failingSince = new Map<string, number>();
  private renewTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly core: LeasesCore,
    private readonly held: HeldLeases,
  ) {}

  start(): void {
    this.renewTimer = setInterval(() => this.renewAll(), Math.max(10, Math.floor(this.core.config.leaseTtlMs / 3)));
    this.renewTimer.unref();
  }

  stop(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  /** Nothing is held on `resource` any more: a later success there is no recovery. */
  forgetResource(resource: string): void {
    this.failingSince.delete(resource);
  }

  renewAll(): void {
    for (const resource of this.held.resources()) {
      void this.renewResource(resource).catch((e: unknown) => this.core.backendError(e));
    }
  }

  /** Confirms a grant received through pub/sub `inMs` from now, if it is still held then. */
  confirmLater(resource: string, token: string, inMs: number): void {
    setTimeout(() => {
      const h = this.held.get(token);
      if (h && !h.ended && !this.core.closed) void this.confirm(resource, token);
    }, inMs).unref();
  }

  /** RENEW of one grant received through pub/sub (its server expiry is provisional). */
  private async confirm(resource: string, token: string): Promise<void> {
    const sentAt = performance.now();
    try {
      const reply = (await this.core.run(SCRIPTS.renew, resource, [this.core.config.leaseTtlMs, token])) as unknown[];
      this.core.updateUsage(resource, reply[1] as UsageTuple);
      this.renewed([token], reply[0] as number[], sentAt, 'the handed-over lease was gone before it could be confirmed');
    } catch (err) {
      // The regular renewal retries; the lost timer still guards the provisional expiry.
      this.core.counts.renewalFailures++;
      this.core.backendError(err);
    }
  }

  /** One RENEW per resource for everything this process holds there. */
  private async renewResource(resource: string): Promise<void> {
    const tokens = this.held.tokensOf(resource);
    if (tokens.length === 0 || this.renewing.has(resource) || this.core.closed) return;
    this.renewing.add(resource);
    const sentAt = performance.now();
    let reply: unknown[];
    try {
      reply = (await this.core.run(SCRIPTS.renew, resource, [this.core.config.leaseTtlMs, ...tokens])) as unknown[];
    } catch (err) {
      this.renewing.delete(resource);
      this.failing(resource, tokens, sentAt, err);
      return;
    }
    this.renewing.delete(resource);
    if (this.failingSince.delete(resource)) this.core.emit('renewal-recovered', { resource });
    this.core.updateUsage(resource, reply[1] as UsageTuple);
    this.renewed(tokens, reply[0] as number[], sentAt, 'the lease is gone from Redis (expired, revoked, or Redis lost its data)');
  }

  /** Applies a RENEW reply: a renewed lease is ours until sentAt + TTL; a gone one is lost. */
  private renewed(tokens: string[], statuses: number[], sentAt: number, goneDetail: string): void {
    tokens.forEach((t, i) => {
      const h = this.held.get(t);
      if (!h || h.ended) return;
      if (Number(statuses[i]) === 1) {
        h.localExpiry = sentAt + this.core.config.leaseTtlMs;
        this.held.armLostTimer(h);
      } else {
        this.held.lose(h, 'expired', goneDetail);
      }
    });
  }

  /** A RENEW failed: counted, 'renewal-failing' with the time left, retried sooner than the period. */
  private failing(resource: string, tokens: string[], sentAt: number, err: unknown): void {
    this.core.counts.renewalFailures++;
    if (!this.failingSince.has(resource)) this.failingSince.set(resource, sentAt);
    let remainingMs = Infinity;
    for (const t of tokens) {
      const h = this.held.get(t);
      if (h && !h.ended) remainingMs = Math.min(remainingMs, h.localExpiry - performance.now());
    }
    this.core.emit('renewal-failing', { resource, tokens, error: asUnavailable(err), remainingMs: Math.max(0, remainingMs) });
    // Retry sooner than the normal period while there is time left.
    if (!this.retryTimer && !this.core.closed) {
      this.retryTimer = setTimeout(
        () => {
          this.retryTimer = undefined;
          this.renewAll();
        },
        Math.max(20, Math.min(500, Math.floor(this.core.config.leaseTtlMs / 10))),
      );
      this.retryTimer.unref();
    }
  }
}
