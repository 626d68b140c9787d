// The local backend's ledger and wait queue for one resource (ResourceState), its grants
// (LocalGrant) and its all-or-nothing sets (grantSet, cancelSet): strict priority order, FIFO
// within a priority, optional aging, no backfill past a head that does not fit. LocalBackend
// (./backend.ts) is the contract over these.
import { GpuArbiterError } from '../../errors';
import type { Linked } from '../../util/intrusive-list';
import { HolderSet } from './holder-set';
import { type Queued, WaitQueue } from './wait-queue';
import type { AcquireRequest, Grant, HolderInfo, LostReason, ResourceUsage } from '../contract';

/** @internal What a ResourceState asks of its backend: the next token number. */
export interface TokenSource {
  nextTokenSeq(): number;
}

/** @internal */
export class LocalGrant implements Grant, Linked<LocalGrant> {
  released = false;
  /** The grants of one set (acquireSet): released together. */
  siblings: LocalGrant[] | null = null;
  prevLink: LocalGrant | null = null;
  nextLink: LocalGrant | null = null;
  inList = false;
  // The lost signal is created on first read: an AbortController per grant would cost more
  // than the whole uncontended acquire+release, and most holders never look at it.
  private controller: AbortController | null = null;
  private lostError: GpuArbiterError | null = null;

  constructor(
    private readonly state: ResourceState,
    /** Token number; the string token is built only when asked for (rarely on the hot path). */
    private readonly seq: number,
    readonly fencingToken: number,
    readonly units: number,
    readonly grantedAt: number,
    readonly waitedMs: number,
    readonly holder: HolderInfo,
    private readonly onLost: ((reason: LostReason, holder: HolderInfo) => void) | undefined,
  ) {}

  get resource(): string {
    return this.state.name;
  }

  get token(): string {
    return `l${this.seq}`;
  }

  get lost(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.lostError !== null) this.controller.abort(this.lostError);
    }
    return this.controller.signal;
  }

  release(): boolean {
    if (this.released) return false;
    const siblings = this.siblings;
    if (siblings === null) this.state.free(this);
    else for (const g of siblings) if (!g.released) g.state.free(g);
    return true;
  }

  /** Marks the grant lost (its units are already freed by the caller). */
  markLost(reason: LostReason): void {
    try {
      this.onLost?.(reason, this.holder);
    } catch {
      // A throwing observer must not stop the signal from aborting (never throw from a revoke).
    }
    this.lostError = new GpuArbiterError('E_LEASE_LOST', `Hold on ${this.state.name} was lost: ${reason}`, {
      reason,
      resource: this.state.name,
    });
    this.controller?.abort(this.lostError);
  }
}

/**
 * @internal Where a grant goes instead of a plain resolve: the arbiter turns it into a Lease (and
 * a failure into its mapped error) in the step that settles the caller's promise, rather than in
 * a then() of its own, which cost one more promise and one more microtask per waiter.
 */
export interface GrantSink<T> {
  granted(grant: Grant): T;
  failed(err: unknown): unknown;
}

/** @internal One request waiting in one resource's queue (a set has one per resource). */
export class Waiter implements Queued<Waiter> {
  prevLink: Waiter | null = null;
  nextLink: Waiter | null = null;
  inList = false;
  timer: NodeJS.Timeout | null = null;
  onAbort: (() => void) | null = null;

  constructor(
    readonly request: AcquireRequest,
    readonly seq: number,
    readonly enqueuedAt: number,
    /** Effective priority as of the last reorder (= request.priority without aging). */
    public eff: number,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (err: unknown) => void,
    /** A member of an all-or-nothing request (one Waiter per resource); null for a single one. */
    readonly set: SetWait | null,
    private readonly sink: GrantSink<unknown> | null,
  ) {}

  /** Settles the request with its grant (through the sink when there is one). */
  granted(grant: Grant): void {
    if (this.sink === null) {
      this.resolve(grant);
      return;
    }
    let value: unknown;
    try {
      value = this.sink.granted(grant);
    } catch (err) {
      // Thrown by the arbiter's own bookkeeping or an `acquired` listener: the caller hears it,
      // and the queue goes on granting (this runs inside pump()).
      this.reject(err);
      return;
    }
    this.resolve(value);
  }

  /** Fails the request (through the sink when there is one). */
  fail(err: unknown): void {
    if (this.sink === null) {
      this.reject(err);
      return;
    }
    let mapped: unknown;
    try {
      mapped = this.sink.failed(err);
    } catch (thrown) {
      // A throwing `timeout` listener, say: this runs in a timer, an abort listener or close(),
      // where a throw would escape; the caller hears it instead.
      mapped = thrown;
    }
    this.reject(mapped);
  }
}

/** An all-or-nothing request waiting: granted when every member heads its queue and fits. */
export interface SetWait {
  readonly members: Array<{ state: ResourceState; waiter: Waiter }>;
  resolve(grants: Grant[]): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout | null;
  onAbort: (() => void) | null;
  done: boolean;
}

/** @internal */
export class ResourceState implements ResourceUsage {
  capacity = 0;
  external = 0;
  closed = false;
  declared = 0;
  fencing = 0;
  // Not a Map by token: no string is built or hashed per grant; release-by-token (rare) scans.
  readonly holders = new HolderSet<LocalGrant>();
  /** Grant order: effective priority descending, then arrival (seq) ascending. */
  readonly queue = new WaitQueue<Waiter>();
  readonly groupCounts = new Map<string, number>();

  constructor(
    readonly name: string,
    private readonly backend: TokenSource,
    /** Ms of waiting per +1 of effective priority; null: strict priorities. */
    readonly agingMs: number | null,
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  get headPriority(): number | null {
    if (this.queue.head === null) return null;
    if (this.agingMs !== null) this.reorder(Date.now());
    return this.queue.head!.eff;
  }

  /**
   * With aging, effective priorities grow while waiters wait, so the order is recomputed (a
   * stable sort of at most the queue's length) before every decision. Without aging the queue
   * is kept sorted on insert and this does nothing.
   */
  reorder(now: number): void {
    const a = this.agingMs;
    if (a === null || this.queue.head === null) return;
    for (const w of this.queue) w.eff = w.request.priority + Math.floor((now - w.enqueuedAt) / a);
    this.queue.resort();
  }

  fits(units: number): boolean {
    return !this.closed && this.declared + this.external + units <= this.capacity;
  }

  grant(request: AcquireRequest, waitedMs: number, now: number): LocalGrant {
    const units = request.units;
    const g = new LocalGrant(this, this.backend.nextTokenSeq(), ++this.fencing, units, now, waitedMs, request.holder, request.onLost);
    this.declared += units;
    this.holders.add(g);
    return g;
  }

  free(g: LocalGrant): void {
    g.released = true;
    this.holders.remove(g);
    this.declared -= g.units;
    if (this.queue.head !== null) this.pump();
  }

  enqueue(w: Waiter): void {
    // After the last waiter of the same or higher priority: FIFO within a priority.
    this.reorder(w.enqueuedAt);
    this.queue.insert(w);
    const g = w.request.queueGroup;
    if (g !== undefined) this.groupCounts.set(g, (this.groupCounts.get(g) ?? 0) + 1);
  }

  /** Removes a waiter (timed out, aborted, closed, part of a set that gave up); true if it was there. */
  dequeue(w: Waiter): boolean {
    const wasHead = this.queue.head === w;
    if (!this.take(w)) return false;
    // The head may have been the one blocking everyone behind it (with aging, any may be).
    if (wasHead || this.agingMs !== null) this.pump();
    return true;
  }

  /** Takes a waiter out of the queue and undoes its wiring (timer, abort listener, group count). */
  private take(w: Waiter): boolean {
    if (!this.queue.remove(w)) return false;
    if (w.timer !== null) clearTimeout(w.timer);
    if (w.onAbort !== null) w.request.signal?.removeEventListener('abort', w.onAbort);
    const g = w.request.queueGroup;
    if (g !== undefined) {
      const n = (this.groupCounts.get(g) ?? 1) - 1;
      if (n === 0) this.groupCounts.delete(g);
      else this.groupCounts.set(g, n);
    }
    return true;
  }

  /** Grants waiters in strict order while the head fits (no backfill: a big head is never starved). */
  pump(): void {
    let now = -1;
    if (this.agingMs !== null) {
      now = Date.now();
      this.reorder(now);
    }
    for (let head = this.queue.head; head !== null; head = this.queue.head) {
      if (head.set !== null) {
        if (now < 0) now = Date.now();
        // All of the set or nobody here (the host ledger's rule, native/host/ledger_gang.cc).
        if (!grantSet(head.set, now)) return;
        continue;
      }
      if (!this.fits(head.request.units)) return;
      // One clock read per pump, and none when the head does not fit.
      if (now < 0) now = Date.now();
      this.take(head);
      head.granted(this.grant(head.request, now - head.enqueuedAt, now));
    }
  }

  /** @internal Takes a set member off the head of this queue (grantSet has checked it is the head). */
  shiftSetMember(w: Waiter): void {
    this.take(w);
  }
}

/** Grants the set if every member heads its queue and fits; true when granted. */
export function grantSet(set: SetWait, now: number): boolean {
  if (set.done) return false;
  for (const { state, waiter } of set.members) {
    state.reorder(now);
    if (state.queue.head !== waiter || !state.fits(waiter.request.units)) return false;
  }
  set.done = true;
  if (set.timer !== null) clearTimeout(set.timer);
  if (set.onAbort !== null) set.members[0]!.waiter.request.signal?.removeEventListener('abort', set.onAbort);
  const grants = set.members.map(({ state, waiter }) => {
    state.shiftSetMember(waiter);
    return state.grant(waiter.request, now - waiter.enqueuedAt, now);
  });
  for (const g of grants) g.siblings = grants;
  set.resolve(grants);
  return true;
}

/** Takes every member of a set that gave up out of its queue (each queue then moves on). */
export function cancelSet(set: SetWait): void {
  if (set.timer !== null) clearTimeout(set.timer);
  if (set.onAbort !== null) set.members[0]!.waiter.request.signal?.removeEventListener('abort', set.onAbort);
  for (const { state, waiter } of set.members) state.dequeue(waiter);
}
