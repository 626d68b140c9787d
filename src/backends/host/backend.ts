// The host backend: the backend contract (./types.ts) over the host-wide ledger (../host-ledger.ts),
// so every process and worker_thread of the host that opens the same namespace shares one wait
// queue and one count of granted units per resource.
//
// What the ledger gives directly: capacity/external/closed (setResource), host-wide priority
// order with FIFO within a priority, deadlines and abort that leave no waiter behind, revoke by
// token from any process, crash reclaim of dead holders, fencing tokens, a synchronous try.
// What this adapter adds:
// - HolderInfo travels in the ledger's per-holder label ("<pid> <leaseId> <task>", at most 47
//   printable ASCII characters), so inspect() in any process shows who holds what, and the
//   arbiter can match NVML per-process use against holders of other processes (overuse, and the
//   `unaccounted` figure every process must compute alike).
// - Release by token answers 'released' | 'already-released' | 'not-owner' instead of throwing
//   E_NOT_OWNER; refusals are counted per backend (inspect().ownershipViolations), and the ledger
//   counts them host-wide as well (`gpu-arbiter status`).
// - queueLimit: the ledger has no groups, so waiters are counted per queueGroup *in this
//   process* (per backend instance): the limit is per process, not host-wide.
// - onLost and a synchronous `lost` on revoke: a hold revoked through this backend aborts its
//   `lost` at once; one revoked from another process aborts when this process's waiter thread
//   hears of it (microseconds later).
import { GpuArbiterError, isGpuArbiterError } from '../../errors';
import { HostLedger, type HostGrant, type HostLostReason } from './ledger';
import { integerInRange, invalid, knownKeys, optionsObject, nonNegativeNumber } from '../../util/validate';
import { waitAborted, waitTimeout } from '../wait-errors';
import type {
  AcquireRequest,
  Backend,
  BackendSnapshot,
  Grant,
  HolderInfo,
  HolderView,
  LostReason,
  ReleaseResult,
  ResourceSpec,
  ResourceUsage,
  ResourceView,
  WaiterView,
} from '../contract';

const MAX_LABEL = 47;
const PRINTABLE = /^[\x20-\x7e]*$/;
const LEASE_ID = /^[\x21-\x7e]*$/;
const LABEL_PARSE = /^(\d{1,10}) (\S+) ([\s\S]*)$/;
const TOKEN_RE = /^h\d{1,5}\.[0-9a-f]{16}$/;
const MAX_PRIORITY = 1_000_000; // the ledger's range
const HOST_REASONS: readonly HostLostReason[] = ['revoked', 'expired', 'holder-dead', 'backend-closed'];
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
}

/** The ledger label of a holder or waiter: "<pid> <leaseId> <task>", cut to what the ledger keeps. */
export function holderLabel(h: HolderInfo): string {
  const label = `${h.pid} ${h.leaseId} ${h.task}`;
  if (label.length <= MAX_LABEL && LEASE_ID.test(h.leaseId) && PRINTABLE.test(h.task)) return label;
  const clean = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');
  return `${h.pid} ${clean(String(h.leaseId)).replace(/ /g, '_')} ${clean(String(h.task))}`.slice(0, MAX_LABEL);
}

/** The HolderInfo a label carries; a label not written by this backend gives { task: label, pid }. */
export function parseHolderLabel(label: string, pid: number): HolderInfo {
  const m = LABEL_PARSE.exec(label);
  if (m === null) return { leaseId: '', task: label, pid };
  return { pid: Number(m[1]), leaseId: m[2]!, task: m[3]! };
}

class HostBackendGrant implements Grant {
  /** Released or lost: release() does nothing more. */
  done = false;
  /** Lost (revoked, closed) rather than released. */
  wasLost = false;
  readonly resource: string;
  readonly units: number;
  readonly fencingToken: number;
  private cachedToken: string | null = null;

  constructor(
    private readonly backend: HostBackend,
    readonly hostGrant: HostGrant,
    readonly holder: HolderInfo,
    readonly grantedAt: number,
    readonly waitedMs: number,
    private readonly onLost: AcquireRequest['onLost'],
  ) {
    this.resource = hostGrant.resource;
    this.units = hostGrant.units;
    this.fencingToken = hostGrant.fencingToken;
    hostGrant._onLost = this.lostHook;
  }

  get token(): string {
    return (this.cachedToken ??= this.hostGrant.token);
  }

  get lost(): AbortSignal {
    return this.hostGrant.lost;
  }

  release(): boolean {
    if (this.done) return false;
    this.done = true;
    this.backend._forget(this);
    try {
      this.hostGrant.releaseSync();
    } catch (err) {
      // E_NOT_OWNER: the hold was already gone (released by its token elsewhere); its `lost`
      // has aborted. Nothing was given back by this call.
      if (isGpuArbiterError(err) && err.code === 'E_NOT_OWNER') return false;
      throw err;
    }
    return !this.wasLost;
  }

  // Called by the ledger (through HostGrant._onLost) once, before `lost` aborts.
  private readonly lostHook = (reason: HostLostReason): void => {
    this.wasLost = true;
    if (!this.done) {
      this.done = true;
      this.backend._forget(this);
    }
    this.onLost?.(reason, this.holder);
  };
}

interface PendingView {
  resource: string;
  label: string;
  deadline: number | null;
}

/**
 * Backend for every process of the host (DESIGN.md "Host backend invariants"): a HostLedger in
 * `/dev/shm/gpu-arbiter-<namespace>` keeps holders and the priority queue in shared memory. The
 * backend owns its ledger handle and closes it in close(). Synchronous wherever the ledger is.
 *
 * Per-process parts (documented above): queueLimit counts waiters of this backend only;
 * ownershipViolations counts refusals made through this backend.
 */
export class HostBackend implements Backend {
  readonly kind = 'host';
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
    knownKeys('options', o, ['namespace']);
    this.namespace = o.namespace ?? 'default';
    this.ledger = HostLedger.openSync({ namespace: this.namespace });
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
    const hg = this.ledger.tryAcquire(request.resource, {
      units: request.units,
      priority: request.priority,
      label: holderLabel(request.holder),
    });
    return hg === null ? null : this.wrap(hg, request, now, 0);
  }

  acquire(request: AcquireRequest): Promise<Grant> {
    let label: string;
    const start = Date.now();
    try {
      this.check(request);
      label = holderLabel(request.holder);
      const tryOnce = request.deadline !== undefined && request.deadline <= start;
      const group = request.queueGroup;
      const full =
        group !== undefined && request.queueLimit !== undefined && this.groupCount(request.resource, group) >= request.queueLimit;
      if (tryOnce || full) {
        const hg = this.ledger.tryAcquire(request.resource, { units: request.units, priority: request.priority, label });
        if (hg !== null) return Promise.resolve(this.wrap(hg, request, start, 0));
        if (tryOnce) return Promise.reject(waitTimeout(request, 0));
        return Promise.reject(
          new GpuArbiterError('E_QUEUE_FULL', `Queue of ${group} is full in this process (queueLimit ${request.queueLimit})`, {
            task: group,
            queueLimit: request.queueLimit,
          }),
        );
      }
    } catch (err) {
      return Promise.reject(err);
    }
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
    return this.ledger
      .acquire(request.resource, {
        units: request.units,
        priority: request.priority,
        label,
        ...(request.deadline === undefined ? {} : { timeoutMs: Math.max(1, Math.ceil(request.deadline - start)) }),
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      })
      .then(
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
      if (TOKEN_RE.test(token) && !this.closed) {
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
    if (typeof token !== 'string' || !TOKEN_RE.test(token) || this.closed) return false;
    let own: HostBackendGrant | undefined;
    for (const g of this.live) {
      if (g.token === token) {
        own = g;
        break;
      }
    }
    if (own !== undefined && own.resource !== resource) return false;
    // The ledger knows the in-host reasons; anything else (a remote-only reason) is a revoke.
    const why: HostLostReason = HOST_REASONS.includes(reason as HostLostReason) ? (reason as HostLostReason) : 'revoked';
    if (!this.ledger.revoke(token, why)) return false;
    // Ours: abort `lost` now rather than when the waiter thread relays the ledger's notice.
    own?.hostGrant._markLost(`The hold on ${resource} was taken away (${why})`, why);
    return true;
  }

  inspect(): BackendSnapshot {
    if (this.closed) return { kind: this.kind, resources: [], ownershipViolations: this.violations };
    const st = this.ledger.inspect();
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
            holder: { leaseId: g.holder.leaseId, task: g.holder.task, pid: g.holder.pid },
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
    return { kind: this.kind, resources, ownershipViolations: this.violations };
  }

  /** Releases this backend's holds (their `lost` aborts) and rejects its waiters with E_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ledger.closeSync();
  }

  /** @internal A grant was released or lost. */
  _forget(g: HostBackendGrant): void {
    if (!this.live.delete(g)) return;
    this.recent[this.recentAt] = g;
    this.recentAt = (this.recentAt + 1) % RECENT;
  }

  private wrap(hg: HostGrant, request: AcquireRequest, grantedAt: number, waitedMs: number): HostBackendGrant {
    const g = new HostBackendGrant(this, hg, request.holder, grantedAt, waitedMs, request.onLost);
    this.live.add(g);
    return g;
  }

  private groupCount(resource: string, group: string): number {
    return this.groups.get(groupKey(resource, group)) ?? 0;
  }

  private check(request: AcquireRequest): void {
    this.ensureOpen();
    integerInRange('request.priority', request.priority, -MAX_PRIORITY, MAX_PRIORITY);
    integerInRange('request.units', request.units, 1, Number.MAX_SAFE_INTEGER);
    if (request.signal?.aborted) throw waitAborted(request.signal);
  }

  private ensureOpen(): void {
    if (this.closed) throw new GpuArbiterError('E_CLOSED', 'The backend is closed');
  }
}

function groupKey(resource: string, group: string): string {
  return `${resource}\n${group}`;
}



