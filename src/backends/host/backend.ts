// The host backend: the backend contract (../contract.ts) over the host-wide ledger (./ledger.ts),
// so every process and worker_thread of the host that opens the same namespace shares one wait
// queue and one count of granted units per resource.
//
// What the ledger gives directly: capacity/external/closed (setResource), host-wide priority
// order with FIFO within a priority, deadlines and abort that leave no waiter behind, revoke by
// token from any process, crash reclaim of dead holders, fencing tokens, a synchronous try, and
// an acquire that grants inline or queues in one call.
// What this adapter adds:
// - HolderInfo travels in the ledger's per-holder label (./labels.ts), so inspect() in any
//   process shows who holds what, and the arbiter can match NVML per-process use against holders
//   of other processes (overuse, and the `unaccounted` figure every process must compute alike).
// - Release by token answers 'released' | 'already-released' | 'not-owner' instead of throwing
//   E_NOT_OWNER; refusals are counted per backend (inspect().ownershipViolations), and the ledger
//   counts them host-wide as well (`gpu-arbiter status`).
// - queueLimit: the ledger has no groups, so waiters are counted per queueGroup *in this
//   process* (per backend instance): the limit is per process, not host-wide.
// - onLost and a synchronous `lost` on revoke: a hold revoked through this backend aborts its
//   `lost` at once; one revoked from another process aborts when this process's waiter thread
//   hears of it (microseconds later). A release by token of another process's hold ends it the
//   same way (its holder is told), and `revokeAfterMs` lets the ledger expire a hold whose
//   process cannot act (docs/host-ledger.md).
//
// The request path: acquireOrQueue() (acquire() is its promise) validates the request once, here,
// and reaches the ledger once through its trusted path (acquireTrusted in ./ledger.ts), which
// skips HostLedger's public checks: granted inline, or queued.
import { GpuArbiterError, isGpuArbiterError } from '../../errors';
import { integerInRange, knownKeys, optionsObject, nonNegativeNumber, MAX_TIMER_MS } from '../../util/validate';
import { sharedGpuResource } from '../resource-names';
import { waitAborted, waitTimeout } from '../wait-errors';
import type {
  AcquireRequest,
  Backend,
  BackendSnapshot,
  GpuIdentity,
  Grant,
  HolderView,
  LostReason,
  ReleaseResult,
  ResourceSpec,
  ResourceUsage,
  ResourceView,
  SetRequest,
  WaiterView,
} from '../contract';
import { HostBackendGrant } from './backend-grant';
import { HOST_LOST_REASONS, type HostGrant, type HostLostReason } from './grant';
import { holderLabel, parseHolderLabel } from './labels';
import { HostLedger, acquireTrusted, inspectResource } from './ledger';
import { checkAccessOptions, type HostAccessOptions } from './access';
import { MAX_PRIORITY, MAX_UNITS, isTokenShaped, type HostLedgerOptions } from './options';
import type { HostResourcesStatus } from './view';

/** Released grants remembered so a second release by token says 'already-released'. */
const RECENT = 1024;

/** Options of {@link HostBackend}. */
export interface HostBackendOptions {
  /**
   * The host ledger to use: `/dev/shm/gpu-arbiter-<namespace>`. Every process that opens the
   * same namespace shares holders and queues. Letters, digits, `_`, `.`, `-`.
   * @default 'default'
   */
  namespace?: string;
  /** Mode of a ledger this backend creates (see HostAccessOptions.mode). @default 0o600 */
  mode?: HostAccessOptions['mode'];
  /** Share a ledger this backend creates with a group (see HostAccessOptions.group). */
  group?: HostAccessOptions['group'];
  /** Owners of the ledger file trusted besides this user and root (see HostAccessOptions.trustOwner). */
  trustOwner?: HostAccessOptions['trustOwner'];
}

interface PendingView {
  resource: string;
  label: string;
  deadline: number | null;
}

/**
 * Backend for every process of the host (docs/host-ledger.md): a HostLedger in
 * `/dev/shm/gpu-arbiter-<namespace>` keeps holders and the priority queue in shared memory. The
 * backend owns its ledger handle and closes it in close(). Synchronous wherever the ledger is.
 *
 * Per-process parts (documented above): queueLimit counts waiters of this backend only;
 * ownershipViolations counts refusals made through this backend.
 */
export class HostBackend implements Backend {
  readonly kind = 'host';
  /** Every process of the host that opens the namespace shares the ledger. */
  readonly shared = true;
  readonly namespace: string;
  private readonly ledger: HostLedger;
  private readonly live = new Set<HostBackendGrant>();
  private readonly recent: Array<HostBackendGrant | undefined> = new Array(RECENT);
  private recentAt = 0;
  /** Waiters of this backend per resource and group (queueLimit). */
  private readonly groups = new Map<string, number>();
  private readonly pending = new Set<PendingView>();
  private violations = 0;
  private closed = false;

  constructor(options: HostBackendOptions = {}) {
    const o = optionsObject<HostBackendOptions>('options', options);
    knownKeys('options', o, ['namespace', 'mode', 'group', 'trustOwner']);
    this.namespace = o.namespace ?? 'default';
    const { mode, group, trustOwner } = checkAccessOptions('options', o);
    this.ledger = HostLedger.openSync({
      namespace: this.namespace,
      mode: mode as HostLedgerOptions['mode'],
      ...(group === undefined ? {} : { group }),
      trustOwner,
    });
  }

  /** By UUID where known: processes that number the host's GPUs differently agree on the name. */
  gpuResource(gpu: GpuIdentity): string {
    return sharedGpuResource(gpu);
  }

  /**
   * Declares a resource or updates it, host-wide (every process of the namespace sees the new
   * figures; the last writer wins). Capacity is floored and external rounded up to whole units;
   * a capacity below 1 (nothing known yet) is kept as 1 and the resource closed.
   */
  setResource(resource: string, spec: ResourceSpec): void {
    const s = optionsObject<ResourceSpec>('spec', spec);
    const capacity = nonNegativeNumber('spec.capacity', s.capacity);
    const external = s.external === undefined ? 0 : nonNegativeNumber('spec.external', s.external);
    const closed = s.closed ?? false;
    const cap = Math.floor(capacity);
    this.ensureOpen();
    this.ledger.setResource(resource, {
      capacity: Math.max(1, cap),
      external: Math.ceil(external),
      closed: closed || cap < 1,
    });
  }

  usage(resource: string): Readonly<ResourceUsage> | null {
    if (this.closed) return null;
    try {
      return this.ledger.usage(resource);
    } catch (err) {
      if (isGpuArbiterError(err) && err.code === 'E_INVALID_ARGUMENT') return null; // not declared
      throw err;
    }
  }

  tryAcquire(request: AcquireRequest): Grant | null {
    this.check(request);
    const now = Date.now();
    const hg = acquireTrusted(this.ledger, request.resource, {
      units: request.units,
      priority: request.priority,
      label: holderLabel(request.holder),
      queue: false,
      timeoutMs: undefined,
      signal: undefined,
      revokeAfterMs: request.revokeAfterMs ?? 0,
    }) as HostGrant | null; // queue false: never a promise
    return hg === null ? null : this.wrap(hg, request, now, 0);
  }

  acquire(request: AcquireRequest): Promise<Grant> {
    try {
      return Promise.resolve(this.acquireOrQueue(request));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * One call down to the ledger: the grant when it is granted at once, else the promise of one
   * (queued). Throws what acquire() rejects with before waiting: E_DOES_NOT_FIT, E_ABORTED,
   * E_QUEUE_FULL (queueLimit, or the ledger's tables), E_TIMEOUT (a deadline already passed and
   * it is busy), E_CLOSED, E_INVALID_ARGUMENT.
   */
  acquireOrQueue(request: AcquireRequest): Grant | Promise<Grant> {
    this.check(request);
    const start = Date.now();
    const { resource, deadline, queueGroup: group, queueLimit } = request;
    const label = holderLabel(request.holder);
    const tryOnce = deadline !== undefined && deadline <= start;
    const full = group !== undefined && queueLimit !== undefined && this.groupCount(resource, group) >= queueLimit;
    const got = acquireTrusted(this.ledger, resource, {
      units: request.units,
      priority: request.priority,
      label,
      queue: !tryOnce && !full,
      timeoutMs: deadline === undefined ? undefined : Math.max(1, Math.ceil(deadline - start)),
      signal: request.signal,
      revokeAfterMs: request.revokeAfterMs ?? 0,
    });
    if (got === null) {
      // Busy, and it may not queue.
      if (tryOnce) throw waitTimeout(request, 0);
      throw new GpuArbiterError('E_QUEUE_FULL', `Queue of ${group} is full in this process (queueLimit ${queueLimit})`, {
        task: group,
        queueLimit,
      });
    }
    if (!(got instanceof Promise)) return this.wrap(got, request, start, 0);
    return this.waitFor(got, request, label, start);
  }

  /**
   * Every resource of the request in one ledger step, or none (HostLedger.acquireSet): one grant
   * per resource, in the order asked; releasing any gives the whole set back under one lock.
   * queueGroup/queueLimit are not applied to sets (documented in docs/host-ledger.md).
   */
  async acquireSet(request: SetRequest): Promise<Grant[]> {
    this.check(request as SetRequest & AcquireRequest);
    const start = Date.now();
    const { deadline } = request;
    const shown: AcquireRequest = { ...request, resource: request.resources.join(' + ') };
    const timeoutMs = deadline === undefined ? undefined : Math.max(0, Math.ceil(deadline - start));
    let hostGrants: HostGrant[];
    try {
      hostGrants = await this.ledger.acquireSet(request.resources, {
        units: request.units,
        priority: request.priority,
        label: holderLabel(request.holder),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(request.signal === undefined ? {} : { signal: request.signal }),
        ...(request.revokeAfterMs === undefined ? {} : { revokeAfterMs: request.revokeAfterMs }),
      });
    } catch (err) {
      if (isGpuArbiterError(err, 'E_TIMEOUT')) throw waitTimeout(shown, Date.now() - start);
      if (isGpuArbiterError(err, 'E_ABORTED') && request.signal !== undefined) throw waitAborted(request.signal);
      throw err;
    }
    const waited = Date.now() - start;
    const grants = hostGrants.map((hg) => this.wrap(hg, shown, Date.now(), waited));
    const set = { members: grants, giveBack: (gs: HostGrant[]) => this.ledger.releaseSet(gs) };
    for (const g of grants) g.set = set;
    return grants;
  }

  release(resource: string, token: string): ReleaseResult {
    if (typeof token === 'string') {
      for (const g of this.live) {
        if (g.token !== token) continue;
        if (g.resource !== resource) {
          this.violations++; // not this resource's holder: refused
          return 'not-owner';
        }
        return g.release() ? 'released' : 'already-released';
      }
      for (const g of this.recent) if (g !== undefined && g.resource === resource && g.token === token) return 'already-released';
      if (isTokenShaped(token) && !this.closed) {
        // Another process's hold (tokens are capabilities): the ledger decides.
        try {
          this.ledger.release(token);
          return 'released';
        } catch (err) {
          if (!isGpuArbiterError(err) || err.code !== 'E_NOT_OWNER') throw err;
        }
      }
    }
    this.violations++;
    return 'not-owner';
  }

  revoke(resource: string, token: string, reason: LostReason = 'revoked'): boolean {
    if (typeof token !== 'string' || !isTokenShaped(token) || this.closed) return false;
    let own: HostBackendGrant | undefined;
    for (const g of this.live) {
      if (g.token === token) {
        own = g;
        break;
      }
    }
    if (own !== undefined && own.resource !== resource) return false;
    // The ledger knows the in-host reasons; anything else (a remote-only reason) is a revoke.
    const why: HostLostReason = HOST_LOST_REASONS.includes(reason as HostLostReason) ? (reason as HostLostReason) : 'revoked';
    if (!this.ledger.revoke(token, why)) return false;
    // Ours: abort `lost` now rather than when the waiter thread relays the ledger's notice.
    own?.hostGrant._markLost(`The hold on ${resource} was taken away (${why})`, why);
    return true;
  }

  inspect(): BackendSnapshot {
    if (this.closed) return { kind: this.kind, resources: [], ownershipViolations: this.violations };
    return { kind: this.kind, resources: this.views(this.ledger.inspect()), ownershipViolations: this.violations };
  }

  /**
   * What inspect() has for `resource`, copied from the ledger for that resource alone (one queue
   * position does not copy every holder and waiter of the host); null when it is not defined or
   * the backend is closed.
   */
  resourceView(resource: string): ResourceView | null {
    if (this.closed) return null;
    const st = inspectResource(this.ledger, resource);
    return st === null ? null : (this.views(st)[0] ?? null);
  }

  /** Releases this backend's holds (their `lost` aborts) and rejects its waiters with E_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ledger.closeSync();
  }

  // A queued request: counted in its group and shown with its deadline until it settles.
  private waitFor(queued: Promise<HostGrant>, request: AcquireRequest, label: string, start: number): Promise<Grant> {
    const key = request.queueGroup === undefined ? null : groupKey(request.resource, request.queueGroup);
    if (key !== null) this.groups.set(key, (this.groups.get(key) ?? 0) + 1);
    const view: PendingView = { resource: request.resource, label, deadline: request.deadline ?? null };
    this.pending.add(view);
    const settle = (): void => {
      this.pending.delete(view);
      if (key === null) return;
      const n = (this.groups.get(key) ?? 1) - 1;
      if (n <= 0) this.groups.delete(key);
      else this.groups.set(key, n);
    };
    return queued.then(
      (hg) => {
        settle();
        const now = Date.now();
        return this.wrap(hg, request, now, now - start);
      },
      (err: unknown) => {
        settle();
        if (isGpuArbiterError(err)) {
          if (err.code === 'E_TIMEOUT') throw waitTimeout(request, Date.now() - start);
          if (err.code === 'E_ABORTED' && request.signal !== undefined) throw waitAborted(request.signal);
        }
        throw err;
      },
    );
  }

  // The contract's views of ledger resources: this backend's holders with their tokens and
  // HolderInfo, other holders and every waiter from their labels, its own waiters' deadlines.
  private views(st: HostResourcesStatus): ResourceView[] {
    const own = new Map<string, HostBackendGrant>();
    for (const g of this.live) own.set(`${g.resource}\n${g.fencingToken}`, g);
    const byName = new Map<string, ResourceView>();
    const resources = st.resources.map((r) => {
      const view: ResourceView = {
        resource: r.name,
        capacity: r.capacity,
        external: r.external,
        closed: r.closed,
        declared: r.used,
        holders: [],
        waiters: [],
      };
      byName.set(r.name, view);
      return view;
    });
    for (const h of st.holders) {
      const g = own.get(`${h.resource}\n${h.fencingToken}`);
      const view: HolderView = g
        ? {
            token: g.token,
            fencingToken: g.fencingToken,
            units: g.units,
            grantedAt: g.grantedAt,
            holder:
              g.holder.label === undefined
                ? { leaseId: g.holder.leaseId, task: g.holder.task, pid: g.holder.pid }
                : { leaseId: g.holder.leaseId, task: g.holder.task, pid: g.holder.pid, label: g.holder.label },
          }
        : // Another process's (or handle's) hold: its token is a capability and is not published.
          { token: '', fencingToken: h.fencingToken, units: h.units, grantedAt: h.since.getTime(), holder: parseHolderLabel(h.label, h.pid) };
      byName.get(h.resource)?.holders.push(view);
    }
    for (const w of st.waiters) {
      let deadline: number | null = null;
      if (w.pid === process.pid) {
        for (const p of this.pending) {
          if (p.resource === w.resource && p.label === w.label) {
            deadline = p.deadline;
            break;
          }
        }
      }
      const view: WaiterView = {
        position: w.position,
        units: w.units,
        priority: w.priority,
        enqueuedAt: w.since.getTime(),
        deadline,
        holder: parseHolderLabel(w.label, w.pid),
      };
      byName.get(w.resource)?.waiters.push(view);
    }
    return resources;
  }

  // A grant was released or lost.
  private readonly forget = (g: HostBackendGrant): void => {
    if (!this.live.delete(g)) return;
    this.recent[this.recentAt] = g;
    this.recentAt = (this.recentAt + 1) % RECENT;
  };

  private wrap(hg: HostGrant, request: AcquireRequest, grantedAt: number, waitedMs: number): HostBackendGrant {
    const g = new HostBackendGrant(this.forget, hg, request.holder, grantedAt, waitedMs, request.onLost);
    this.live.add(g);
    return g;
  }

  private groupCount(resource: string, group: string): number {
    return this.groups.get(groupKey(resource, group)) ?? 0;
  }

  private check(request: AcquireRequest): void {
    this.ensureOpen();
    integerInRange('request.priority', request.priority, -MAX_PRIORITY, MAX_PRIORITY);
    integerInRange('request.units', request.units, 1, MAX_UNITS);
    if (request.revokeAfterMs !== undefined) integerInRange('request.revokeAfterMs', request.revokeAfterMs, 1, MAX_TIMER_MS);
    if (request.signal?.aborted) throw waitAborted(request.signal);
  }

  private ensureOpen(): void {
    if (this.closed) throw new GpuArbiterError('E_CLOSED', 'The backend is closed');
  }
}

function groupKey(resource: string, group: string): string {
  return `${resource}\n${group}`;
}
