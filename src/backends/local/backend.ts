// The local backend: ledger and priority wait queue for one JS isolate.
//
// Why not async-mutex's Semaphore for the queue (it has weights, priorities and setValue): its
// waiters cannot leave on timeout or abort (withTimeout leaves them queued, async-mutex #54;
// cancel() rejects everyone, #64), it cannot tell "can never fit" from "busy", and it has no
// view of who waits. docs/design.md requires all three, so the queue is ours; async-mutex's Mutex is
// used in the arbiter, where serialising async steps is exactly what is needed.
import { GpuArbiterError } from '../../errors';
import { integerInRange, invalid, knownKeys, nonEmptyString, optionsObject, nonNegativeNumber } from '../../util/validate';
import { waitAborted, waitTimeout } from '../wait-errors';
import type {
  AcquireRequest,
  Backend,
  BackendSnapshot,
  Grant,
  HolderInfo,
  LostReason,
  ReleaseResult,
  ResourceSpec,
  ResourceUsage,
  SetRequest,
} from '../contract';
import { cancelSet, type GrantSink, grantSet, type LocalGrant, ResourceState, type SetWait, Waiter } from './queue';

/** The most resources one all-or-nothing request takes (as the host ledger's kMaxGang). */
const MAX_SET = 16;

/** @internal A backend that settles the caller's promise through a sink (see LocalBackend.acquireInto). */
export interface AcquiresInto {
  acquireInto<T>(request: AcquireRequest, sink: GrantSink<T>): T | Promise<T>;
}

/** Options of {@link LocalBackend}. */
export interface LocalBackendOptions {
  /**
   * Aging: a waiter's effective priority rises by 1 for every `agingMs` it has waited, so low
   * priorities are not starved by a steady stream of high ones. Order is re-evaluated at every
   * grant decision (release, sample, new request). @default no aging (strict priorities)
   */
  agingMs?: number;
}

/** Backend for one JS isolate: priority order, FIFO within a priority, deadlines, abort, queue limits. */
export class LocalBackend implements Backend {
  readonly kind = 'local';
  private readonly agingMs: number | null;
  private readonly resources = new Map<string, ResourceState>();
  private tokenSeq = 0;
  private waiterSeq = 0;
  private ownershipViolations = 0;
  private closed = false;
  /** The resource of the last request (see check()). */
  private lastState: ResourceState | null = null;

  constructor(options: LocalBackendOptions = {}) {
    const o = optionsObject<LocalBackendOptions>('options', options);
    knownKeys('options', o, ['agingMs']);
    this.agingMs = o.agingMs === undefined ? null : integerInRange('options.agingMs', o.agingMs, 1, 2 ** 31 - 1);
  }

  /** @internal */
  nextTokenSeq(): number {
    return ++this.tokenSeq;
  }

  setResource(resource: string, spec: ResourceSpec): void {
    nonEmptyString('resource', resource);
    let state = this.resources.get(resource);
    if (state === undefined) {
      state = new ResourceState(resource, this, this.agingMs);
      this.resources.set(resource, state);
    }
    state.capacity = nonNegativeNumber('spec.capacity', spec.capacity);
    state.external = spec.external === undefined ? 0 : nonNegativeNumber('spec.external', spec.external);
    state.closed = spec.closed ?? false;
    state.pump();
  }

  usage(resource: string): Readonly<ResourceUsage> | null {
    return this.resources.get(resource) ?? null;
  }

  /** Checks a request; throws what acquire() would reject with. */
  private check(request: AcquireRequest): ResourceState {
    if (this.closed) throw new GpuArbiterError('E_CLOSED', 'The backend is closed');
    // Callers mostly ask for the resource they asked for last: a string compare, not a Map probe.
    let state = this.lastState;
    if (state === null || request.resource !== state.name) {
      state = this.resources.get(request.resource) ?? null;
      if (state === null) throw invalid('request.resource', 'a resource declared with setResource()', request.resource);
      this.lastState = state;
    }
    const units = request.units;
    if (!(Number.isSafeInteger(units) && units >= 1)) integerInRange('request.units', units, 1, Number.MAX_SAFE_INTEGER);
    if (typeof request.priority !== 'number' || !Number.isFinite(request.priority)) {
      throw invalid('request.priority', 'a finite number', request.priority);
    }
    if (request.units > state.capacity) {
      throw new GpuArbiterError('E_DOES_NOT_FIT', `${request.units} units can never fit ${request.resource} (capacity ${state.capacity})`, {
        resource: request.resource,
        units: request.units,
        capacity: state.capacity,
      });
    }
    if (request.signal?.aborted) throw waitAborted(request.signal);
    return state;
  }

  /** The grant if it can be had now (see {@link Backend.tryAcquire}); nothing is queued. */
  tryAcquire(request: AcquireRequest): Grant | null {
    return this.grantNow(this.check(request), request);
  }

  /** Served at once when nobody of equal or higher priority is waiting and it fits now. */
  private grantNow(state: ResourceState, request: AcquireRequest): LocalGrant | null {
    const head = state.queue.head;
    if (head === null) {
      // The clock is read only for a grant (it costs as much as the rest of this check).
      return state.fits(request.units) ? state.grant(request, 0, Date.now()) : null;
    }
    let now = -1;
    if (state.agingMs !== null) {
      now = Date.now();
      state.reorder(now);
    }
    if (state.queue.head!.eff < request.priority && state.fits(request.units)) return state.grant(request, 0, now < 0 ? Date.now() : now);
    return null;
  }

  acquire(request: AcquireRequest): Promise<Grant> {
    try {
      const state = this.check(request);
      const g = this.grantNow(state, request);
      if (g !== null) return Promise.resolve(g);
      return this.queue(state, request, null) as Promise<Grant>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * @internal The arbiter's one trip (src/arbiter/requests.ts): `sink.granted(grant)` returned
   * at once when granted now, else a promise settled with `sink.granted(grant)` when granted
   * (or rejected with `sink.failed(err)`), so the caller's promise is the queue's own. Throws
   * (unmapped) what acquire() would reject with before anything is queued: a bad request, a
   * deadline already past, a full queue.
   */
  acquireInto<T>(request: AcquireRequest, sink: GrantSink<T>): T | Promise<T> {
    const state = this.check(request);
    const g = this.grantNow(state, request);
    if (g !== null) return sink.granted(g);
    return this.queue(state, request, sink) as Promise<T>;
  }

  /** Queues a request that cannot be granted now; throws (queues nothing) past its deadline or queue limit. */
  private queue(state: ResourceState, request: AcquireRequest, sink: GrantSink<unknown> | null): Promise<unknown> {
    const now = Date.now();
    if (request.deadline !== undefined && request.deadline <= now) throw waitTimeout(request, 0);
    if (request.queueGroup !== undefined && request.queueLimit !== undefined) {
      if ((state.groupCounts.get(request.queueGroup) ?? 0) >= request.queueLimit) {
        throw new GpuArbiterError('E_QUEUE_FULL', `Queue of ${request.queueGroup} is full (queueLimit ${request.queueLimit})`, {
          task: request.queueGroup,
          queueLimit: request.queueLimit,
        });
      }
    }
    return new Promise((resolve, reject) => {
      const w = new Waiter(request, ++this.waiterSeq, now, request.priority, resolve, reject, null, sink);
      if (request.deadline !== undefined) {
        w.timer = setTimeout(() => {
          if (state.dequeue(w)) w.fail(waitTimeout(request, Date.now() - now));
        }, request.deadline - now);
      }
      if (request.signal !== undefined) {
        const signal = request.signal;
        w.onAbort = () => {
          if (state.dequeue(w)) w.fail(waitAborted(signal));
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      state.enqueue(w);
    });
  }

  /**
   * Every resource of the request at once, or none (see {@link Backend.acquireSet}): it waits in
   * each resource's queue and is granted when it heads every one of them and fits on each.
   * queueGroup/queueLimit do not apply to sets.
   */
  acquireSet(request: SetRequest): Promise<Grant[]> {
    let states: ResourceState[];
    try {
      const rs: unknown = request.resources;
      if (!Array.isArray(rs) || rs.length < 2 || rs.length > MAX_SET || new Set(rs).size !== rs.length) {
        throw invalid('request.resources', `an array of 2 to ${MAX_SET} distinct resources`, rs);
      }
      states = request.resources.map((resource) => this.check({ ...request, resource }));
    } catch (err) {
      return Promise.reject(err);
    }
    const now = Date.now();
    const shown: AcquireRequest = { ...request, resource: request.resources.join(' + ') };
    return new Promise<Grant[]>((resolve, reject) => {
      const seq = ++this.waiterSeq;
      const fail = (err: unknown) => {
        if (set.done) return;
        set.done = true;
        cancelSet(set);
        reject(err);
      };
      const set: SetWait = { members: [], resolve, reject: fail, timer: null, onAbort: null, done: false };
      for (const state of states) {
        // A member never settles alone: grantSet() resolves the set, and its reject is the set's.
        const waiter = new Waiter({ ...request, resource: state.name }, seq, now, request.priority, () => {}, fail, set, null);
        set.members.push({ state, waiter });
        state.enqueue(waiter);
      }
      if (grantSet(set, now)) return;
      if (request.deadline !== undefined) {
        if (request.deadline <= now) return fail(waitTimeout(shown, 0));
        set.timer = setTimeout(() => fail(waitTimeout(shown, Date.now() - now)), request.deadline - now);
      }
      if (request.signal !== undefined) {
        const signal = request.signal;
        set.onAbort = () => fail(waitAborted(signal));
        signal.addEventListener('abort', set.onAbort, { once: true });
      }
    });
  }

  release(resource: string, token: string): ReleaseResult {
    const g = this.find(resource, token);
    if (g !== undefined) {
      g.release();
      return 'released';
    }
    // A token this backend issued (l<n>, n <= tokenSeq) that is no longer held was released
    // already; anything else was never ours.
    const n = /^l(\d+)$/.exec(token);
    if (n !== null && Number(n[1]) <= this.tokenSeq) return 'already-released';
    this.ownershipViolations++;
    return 'not-owner';
  }

  revoke(resource: string, token: string, reason: LostReason = 'revoked'): boolean {
    const g = this.find(resource, token);
    if (g === undefined) return false;
    g.release();
    g.markLost(reason);
    return true;
  }

  private find(resource: string, token: string): LocalGrant | undefined {
    const state = this.resources.get(resource);
    if (state === undefined) return undefined;
    for (const g of state.holders) if (g.token === token) return g;
    return undefined;
  }

  inspect(): BackendSnapshot {
    const now = Date.now();
    const resources = [...this.resources.values()].map((s) => {
      s.reorder(now);
      return {
        resource: s.name,
        capacity: s.capacity,
        external: s.external,
        closed: s.closed,
        declared: s.declared,
        holders: byFencing(s.holders.toArray()).map((g) => ({
          token: g.token,
          fencingToken: g.fencingToken,
          units: g.units,
          grantedAt: g.grantedAt,
          holder: copyHolder(g.holder),
        })),
        waiters: s.queue.toArray().map((w, position) => ({
          position,
          units: w.request.units,
          priority: w.request.priority,
          enqueuedAt: w.enqueuedAt,
          deadline: w.request.deadline ?? null,
          holder: copyHolder(w.request.holder),
        })),
      };
    });
    return { kind: this.kind, resources, ownershipViolations: this.ownershipViolations };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.resources.values()) {
      s.closed = true; // keeps pump() from granting to the next waiter while the queue empties
      for (const w of s.queue.toArray()) {
        if (s.dequeue(w)) w.fail(new GpuArbiterError('E_CLOSED', `The backend closed while waiting for ${s.name}`));
      }
      for (const g of byFencing(s.holders.toArray())) {
        g.release();
        g.markLost('backend-closed');
      }
    }
  }
}

/** Holders in grant order (HolderSet does not keep it). */
function byFencing(grants: LocalGrant[]): LocalGrant[] {
  return grants.sort((a, b) => a.fencingToken - b.fencingToken);
}

/** A plain copy; reads the fields (a holder may compute leaseId in a getter). */
function copyHolder(h: HolderInfo): HolderInfo {
  return h.label === undefined ? { leaseId: h.leaseId, task: h.task, pid: h.pid } : { leaseId: h.leaseId, task: h.task, pid: h.pid, label: h.label };
}
