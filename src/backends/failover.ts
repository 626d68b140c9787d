// onBackendError: 'host' - a remote primary (Redis) with an in-host fallback ledger.
//
// While the primary cannot be reached, acquires go to the fallback; when it is back, new acquires
// go to the primary again. The primary never grants on a guess: a request goes to the fallback
// only when the primary refused it with E_BACKEND_UNAVAILABLE (or is known to be down), never
// after it may have granted. Grants remember where they came from: a fallback grant is released
// (and revoked) on the fallback. While both ledgers hold grants on one GPU, each counts the
// other's declared units as outside use, as of the last setResource (every monitor sample).
//
// Safe only where the fallback's scope covers every process that shares the GPU: the host
// backend (all processes of the host) is; a LocalBackend is for one process per GPU, and tests.
import { isGpuArbiterError } from '../errors';
import { HostBackend } from './host/backend';
import type {
  AcquireRequest,
  Backend,
  BackendObserver,
  BackendSnapshot,
  Grant,
  LostReason,
  ReleaseResult,
  ResourceSpec,
  ResourceUsage,
  ResourceView,
  GpuIdentity,
} from './contract';
import type { ClusterView } from './cluster';
import { ForwardingGrant } from './forwarding-grant';

/** Makes the fallback backend; called once, when the arbiter is created. */
export type FallbackFactory = () => Backend | Promise<Backend>;

/**
 * The default fallback for onBackendError: 'host': the host backend (src/backends/host.ts) on the
 * host ledger named like the Redis namespace (characters a ledger name cannot hold become `_`),
 * so every arbiter of that namespace on this host falls back onto one ledger. Its resources are
 * the Redis ones (`<nodeId>/gpu<index>`).
 * @internal
 */
export function defaultHostFallback(namespace: string): FallbackFactory {
  return () => new HostBackend({ namespace: hostLedgerNamespace(namespace) });
}

/** @internal The host ledger namespace for a Redis namespace. */
export function hostLedgerNamespace(namespace: string): string {
  let ns = namespace.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
  if (!/^[A-Za-z0-9]/.test(ns)) ns = `r${ns}`.slice(0, 100);
  return ns;
}

/** A fallback grant: released on the fallback, and forgotten by the failover's token set. */
class FallbackGrant extends ForwardingGrant<Grant> {
  constructor(
    inner: Grant,
    private readonly tokens: Set<string>,
  ) {
    super(inner, inner.grantedAt);
  }
  release(): boolean | Promise<boolean> {
    this.tokens.delete(this.inner.token);
    return this.inner.release();
  }
}

export class FailoverBackend implements Backend {
  readonly kind: string;
  readonly shared: boolean;
  readonly hasFallback = true;
  readonly nodeId: string | undefined;
  /** Tokens of live grants made by the fallback (release/revoke by token go there). */
  private readonly fallbackTokens = new Set<string>();
  /** Grants the fallback made (all time): for tests and metrics. */
  fallbackGrants = 0;

  constructor(
    readonly primary: Backend,
    readonly fallback: Backend,
  ) {
    this.kind = primary.kind;
    this.shared = primary.shared === true;
    this.nodeId = primary.nodeId;
    // The fallback names GPUs as the primary does (docs/design.md "Failover").
    if (primary.gpuResource !== undefined) this.gpuResource = (gpu) => primary.gpuResource!(gpu);
    if (primary.cluster !== undefined) this.cluster = () => primary.cluster!();
  }

  gpuResource?(gpu: GpuIdentity): string;
  cluster?(): Promise<ClusterView>;

  get available(): boolean {
    return this.primary.available !== false;
  }

  observe(observer: BackendObserver): void {
    this.primary.observe?.(observer);
  }

  async setResource(resource: string, spec: ResourceSpec): Promise<void> {
    const external = spec.external ?? 0;
    const onPrimary = this.primary.usage(resource)?.declared ?? 0;
    const onFallback = this.fallback.usage(resource)?.declared ?? 0;
    const f = this.fallback.setResource(resource, { ...spec, external: external + onPrimary });
    if (f !== undefined) await f;
    const p = this.primary.setResource(resource, { ...spec, external: external + onFallback });
    if (p !== undefined) await p;
  }

  usage(resource: string): Readonly<ResourceUsage> | null {
    if (this.available) return this.primary.usage(resource) ?? this.fallback.usage(resource);
    return this.fallback.usage(resource);
  }

  acquire(request: AcquireRequest): Promise<Grant> {
    if (!this.available) return this.onFallback(request);
    return this.primary.acquire(request).catch((err: unknown) => {
      // Refused for want of Redis (nothing was granted there): ask the fallback instead.
      if (isGpuArbiterError(err, 'E_BACKEND_UNAVAILABLE')) return this.onFallback(request);
      throw err;
    });
  }

  private onFallback(request: AcquireRequest): Promise<Grant> {
    return this.fallback.acquire(request).then((g) => {
      this.fallbackTokens.add(g.token);
      this.fallbackGrants++;
      return new FallbackGrant(g, this.fallbackTokens);
    });
  }

  release(resource: string, token: string): ReleaseResult | Promise<ReleaseResult> {
    if (this.fallbackTokens.delete(token)) return this.fallback.release(resource, token);
    return this.primary.release(resource, token);
  }

  revoke(resource: string, token: string, reason?: LostReason): boolean | Promise<boolean> {
    if (this.fallbackTokens.delete(token)) return this.fallback.revoke(resource, token, reason);
    return this.primary.revoke(resource, token, reason);
  }

  /** The primary's view with the fallback's holders and waiters merged into each resource. */
  inspect(): BackendSnapshot {
    const p = this.primary.inspect();
    const f = this.fallback.inspect();
    const byName = new Map<string, ResourceView>();
    for (const r of p.resources) byName.set(r.resource, { ...r, holders: [...r.holders], waiters: [...r.waiters] });
    for (const r of f.resources) {
      const m = byName.get(r.resource);
      if (m === undefined) {
        byName.set(r.resource, r);
        continue;
      }
      m.declared += r.declared;
      m.holders.push(...r.holders);
      const base = m.waiters.length;
      m.waiters.push(...r.waiters.map((w) => ({ ...w, position: base + w.position })));
    }
    return {
      kind: this.kind,
      resources: [...byName.values()],
      ownershipViolations: p.ownershipViolations + f.ownershipViolations,
      ...(p.asOf === undefined ? {} : { asOf: p.asOf }),
    };
  }

  async refresh(): Promise<void> {
    await this.primary.refresh?.();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.primary.close(), this.fallback.close()]);
  }
}
