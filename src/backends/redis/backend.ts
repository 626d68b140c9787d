// The Redis backend: the backend contract over RedisLeases (src/backends/redis/leases.ts), so
// that one GpuArbiter API admits across every process on every host that shares one Redis.
//
// Where the network forces a difference from the in-process contract, it is the contract's
// documented remote form (src/backends/contract.ts; docs/design.md, "The backend contract"):
// - release() of a grant and release()/revoke() by token return promises (one round trip);
// - inspect() is served from a cache that refresh() re-reads (the arbiter refreshes on every
//   sample); usage() is RedisLeases' cache, updated by every script reply this process gets;
// - setResource() is a round trip; while Redis is away the settings are kept and written when it
//   is back (so a sample during an outage is not an error, and a Redis that restarted empty gets
//   its resources back without a restart of ours);
// - there is no synchronous tryAcquire: nothing is granted without Redis saying so.
// Differences in behaviour: a closed resource refuses new requests with E_CLOSED (the local
// backend queues them), and waiters queued on it fail with E_CLOSED at their next heartbeat.
import { GpuArbiterError, isGpuArbiterError } from '../../errors';
import { collectCluster, type ClusterView } from './cluster-view';
import type { RedisTarget } from './connection';
import { RedisLeases } from './leases';
import type { LeaseLostEvent, RedisAcquireRequest, RedisGrant, RedisHolderInfo, RedisLeasesOptions, ResourceSettings } from './types';
import type {
  AcquireRequest,
  Backend,
  BackendObserver,
  BackendSnapshot,
  Grant,
  HolderInfo,
  LostReason,
  ReleaseResult,
  ResourceSpec,
  ResourceUsage,
  SetRequest,
  GpuIdentity,
  PoolGrant,
  PoolRequest,
} from '../contract';
import * as os from 'node:os';
import { inspect } from 'node:util';
import { nodeGpuResource } from '../resource-names';
import { ForwardingGrant } from '../forwarding-grant';
import { checkNodeId } from './limits';
import { describeTarget } from './redact';

class RedisBackendGrant extends ForwardingGrant<RedisGrant> {
  /** True when this call released it; rejects with E_BACKEND_UNAVAILABLE when Redis could not be reached after the retries. */
  release(): Promise<boolean> {
    return this.inner.release().then((outcome) => {
      if (outcome === 'release-failed') {
        throw new GpuArbiterError(
          'E_BACKEND_UNAVAILABLE',
          `Release of ${this.inner.resource} (fencing token ${this.inner.fencingToken}) could not reach Redis; the hold ends by its TTL`,
          { resource: this.inner.resource, fencingToken: this.inner.fencingToken },
        );
      }
      return outcome === 'released';
    });
  }
}

/** A member of a set grant (acquireSet): releasing any member gives the whole set back. */
class RedisSetMemberGrant extends RedisBackendGrant {
  set: { members: RedisSetMemberGrant[]; releasing: Promise<boolean> | null } = { members: [], releasing: null };

  override release(): Promise<boolean> {
    const s = this.set;
    s.releasing ??= Promise.all(s.members.map((m) => m.releaseOne())).then((r) => r.some(Boolean));
    return s.releasing;
  }

  private releaseOne(): Promise<boolean> {
    return super.release();
  }
}

/** Grants of one all-or-nothing request: releasing any member gives the whole set back. */
function asSet(gs: RedisGrant[]): RedisSetMemberGrant[] {
  const now = Date.now();
  const members = gs.map((g) => new RedisSetMemberGrant(g, now));
  const set = { members, releasing: null };
  for (const m of members) m.set = set;
  return members;
}

/** The contract's HolderInfo of a record read back from Redis (its other fields dropped); '?' when there is none. */
function holderInfo(h: RedisHolderInfo | null): HolderInfo {
  if (!h) return { leaseId: '?', task: '?', pid: 0 };
  const info: HolderInfo = { leaseId: String(h.leaseId), task: String(h.task), pid: Number(h.pid) };
  if (typeof h.label === 'string') info.label = h.label;
  return info;
}

/** A plain copy: the arbiter's holder computes leaseId in a getter, which JSON would drop. */
function plainHolder(holder: HolderInfo): RedisHolderInfo {
  return holder.label === undefined
    ? { leaseId: holder.leaseId, task: holder.task, pid: holder.pid }
    : { leaseId: holder.leaseId, task: holder.task, pid: holder.pid, label: holder.label };
}

const LOST_REASONS: Record<LeaseLostEvent['reason'], LostReason> = {
  expired: 'expired',
  'renewal-failed': 'renewal-failed',
  revoked: 'revoked',
  closed: 'backend-closed',
  'node-lost': 'node-lost',
};

/** Options of {@link RedisBackend.open}: RedisLeases' options, and the node whose GPUs this process names. */
export type RedisBackendOptions = RedisLeasesOptions & {
  /** This node's id: its GPUs are the resources `<nodeId>/gpu<index>`. @default os.hostname() */
  nodeId?: string;
};

/** The backend contract over Redis (all hosts). */
export class RedisBackend implements Backend {
  readonly kind = 'redis';
  /** Every process on every host that uses the namespace shares the ledger. */
  readonly shared = true;
  private view: BackendSnapshot = { kind: 'redis', resources: [], ownershipViolations: 0, asOf: 0 };
  /** The last settings asked for per resource; rewritten when Redis comes back. */
  private readonly specs = new Map<string, ResourceSettings>();
  private observer: BackendObserver | null = null;

  private constructor(
    /** The lower-level API this backend drives (events, counters). */
    readonly leases: RedisLeases,
    private readonly target: RedisTarget,
    readonly nodeId: string,
  ) {
    leases.on('backend-down', (err) => this.observer?.down(err));
    leases.on('backend-up', () => {
      this.observer?.up();
      void this.rewrite();
    });
    leases.on('renewal-failing', (e) => this.observer?.renewalFailing({ resource: e.resource, error: e.error, remainingMs: e.remainingMs }));
    leases.on('critical-failure', (e) => this.observer?.criticalFailure({ kind: e.kind, resource: e.resource, fencingToken: e.fencingToken, error: e.error }));
    // Errors inside RedisLeases' timers are reported as events, never thrown; with no listener
    // an EventEmitter 'error' would throw, 'backend-error' does not. Nothing to do with them here.
    leases.on('backend-error', () => undefined);
  }

  /** util.inspect(): the backend with its Redis target masked (never a password). */
  [inspect.custom](_depth: number, options: { stylize(s: string, style: string): string }): string {
    const fields = { namespace: this.namespace, nodeId: this.nodeId, target: describeTarget(this.target), available: this.available, leases: this.leases };
    return `${options.stylize('RedisBackend', 'special')} ${inspect(fields, { ...options, depth: 2 } as never)}`;
  }

  /** Connects to Redis (E_BACKEND_UNAVAILABLE if it cannot within connectTimeoutMs). */
  static async open(options: RedisBackendOptions): Promise<RedisBackend> {
    const { nodeId, ...rest } = options;
    const node = nodeId ?? os.hostname();
    checkNodeId('options.nodeId', node);
    const leases = await RedisLeases.open(rest);
    return new RedisBackend(leases, options.redis, node);
  }

  /** A GPU of this node: `<nodeId>/gpu<index>` (every process of the node must use the same id). */
  gpuResource(gpu: GpuIdentity): string {
    return nodeGpuResource(this.nodeId, gpu.index);
  }

  get namespace(): string {
    return this.leases.namespace;
  }

  /** False while the command connection to Redis is down. */
  get available(): boolean {
    return this.leases.available;
  }

  observe(observer: BackendObserver): void {
    this.observer = observer;
  }

  async setResource(resource: string, spec: ResourceSpec): Promise<void> {
    // Redis keeps integer units: the capacity rounds down and outside use up (never over-admit).
    const settings: ResourceSettings = {
      capacity: Math.max(0, Math.floor(spec.capacity)),
      external: Math.max(0, Math.ceil(spec.external ?? 0)),
      closed: spec.closed ?? false,
    };
    this.specs.set(resource, settings);
    try {
      await this.leases.setResource(resource, settings);
    } catch (err) {
      // Away: kept, written by rewrite() when Redis is back. Nothing is granted meanwhile.
      if (!isGpuArbiterError(err, 'E_BACKEND_UNAVAILABLE')) throw err;
    }
  }

  private async rewrite(): Promise<void> {
    for (const [resource, settings] of this.specs) {
      try {
        await this.leases.setResource(resource, settings);
      } catch {
        return; // down again: the next 'backend-up' or sample writes them
      }
    }
  }

  usage(resource: string): Readonly<ResourceUsage> | null {
    return this.leases.usage(resource);
  }

  acquire(request: AcquireRequest): Promise<Grant> {
    const holder = request.holder;
    const onLost = request.onLost;
    return this.leases
      .acquire({
        resource: request.resource,
        units: request.units,
        priority: request.priority,
        deadline: request.deadline,
        signal: request.signal,
        holder: plainHolder(holder),
        queueGroup: request.queueGroup,
        queueLimit: request.queueLimit,
        onLost:
          onLost === undefined ? undefined : (err) => onLost(LOST_REASONS[(err.details.reason as LeaseLostEvent['reason']) ?? 'expired'] ?? 'expired', holder),
      })
      .then((g) => new RedisBackendGrant(g, Date.now()));
  }

  /**
   * Every resource of the request in one step, or none (RedisLeases.acquireSet: the resources
   * must be of one group, as one node's GPUs are). Releasing any of the grants gives all back.
   * queueGroup/queueLimit do not apply to sets.
   */
  acquireSet(request: SetRequest): Promise<Grant[]> {
    return this.leases.acquireSet(request.resources, { ...this.requestOf(request), units: request.units }).then(asSet);
  }

  /**
   * Cluster scope: any live node's GPUs that fit, placed by Redis (RedisLeases.acquirePool).
   * Releasing any of the grants gives all back.
   */
  acquirePool(request: PoolRequest): Promise<PoolGrant> {
    return this.leases
      .acquirePool({ ...this.requestOf(request), units: request.units, gpus: request.gpus, labels: request.labels, placement: request.placement })
      .then((g) => ({
        node: g.node,
        gpus: g.gpus.map((d) => ({ index: d.index, uuid: d.uuid, name: d.name, resource: d.resource })),
        grants: asSet(g.grants),
      }));
  }

  /** The fields of a set or pool request RedisLeases takes as they are. */
  private requestOf(request: SetRequest | PoolRequest): Omit<RedisAcquireRequest, 'resource' | 'units'> {
    const holder = request.holder;
    const onLost = request.onLost;
    return {
      priority: request.priority,
      deadline: request.deadline,
      signal: request.signal,
      holder: plainHolder(holder),
      onLost:
        onLost === undefined ? undefined : (err) => onLost(LOST_REASONS[(err.details.reason as LeaseLostEvent['reason']) ?? 'expired'] ?? 'expired', holder),
    };
  }

  /**
   * Release by token. A hold of another client (process, host) ends exactly as by
   * {@link revoke}: its holder is told at once (its `lost` aborts, reason 'revoked') and this
   * resolves 'released'. A token that holds nothing is refused ('not-owner') and counted, unless
   * its lease ended lately ('already-released'). See RedisLeases.release.
   */
  release(resource: string, token: string): Promise<ReleaseResult> {
    return this.leases.release(resource, token);
  }

  /** Takes a hold away: its holder is told at once (pub/sub), its `lost` aborts with reason 'revoked'. False if not held. */
  async revoke(resource: string, token: string, reason: LostReason = 'revoked'): Promise<boolean> {
    return (await this.leases.revoke(resource, token, reason)) === 'revoked';
  }

  /** The view as of the last refresh(); ownershipViolations is this process's current count. */
  inspect(): BackendSnapshot {
    return { ...this.view, ownershipViolations: this.leases.ownershipViolations };
  }

  async refresh(): Promise<void> {
    const v = await this.leases.inspect({ resources: [...this.specs.keys()] });
    this.view = {
      kind: 'redis',
      asOf: Date.now(),
      ownershipViolations: v.ownershipViolations,
      // This arbiter's resources only (the namespace also holds other nodes' GPUs); one Redis
      // lost with its data has none until they are written again.
      resources: v.resources
        .filter((r) => r.capacity >= 0)
        .map((r) => ({
          resource: r.resource,
          capacity: r.capacity,
          external: r.external,
          closed: r.closed,
          declared: r.declared,
          holders: r.holders.map((h) => ({
            token: h.token,
            fencingToken: h.fencingToken,
            units: h.units,
            grantedAt: h.grantedAt,
            holder: holderInfo(h.holder),
          })),
          waiters: r.waiters.map((w) => ({
            position: w.position,
            units: w.units,
            priority: w.priority,
            enqueuedAt: w.enqueuedAt,
            deadline: w.deadline,
            holder: holderInfo(w.holder),
          })),
        })),
    };
  }

  /** Live nodes of this namespace with their GPUs' capacity and use (reads Redis). */
  cluster(): Promise<ClusterView> {
    return collectCluster(this.target, { namespace: this.leases.namespace });
  }

  async close(): Promise<void> {
    await this.leases.close();
  }
}
