// Host-wide GPU mutexes and VRAM semaphores: one arbitration ledger shared by every process and
// worker_thread of the host, in POSIX shared memory (native/host/). HostLedger is the typed,
// validated API over the raw addon handle; waiting happens on a native thread, never here.
//
// Beneath the public API, code of this folder that has validated already (the host backend,
// the test hooks) reaches the same handle through the @internal functions at the end of this
// file: one trip down to the ledger per request, with no second round of checks.
import { threadId } from 'node:worker_threads';
import { GpuArbiterError } from '../../errors';
import { fromNative, type RawHostCodes, type RawHostLedger } from '../../native/addon';
import { invalid } from '../../util/validate';
import { hostModule } from './addon';
import { HostGrant, type HostLostReason } from './grant';
import { abortError, acquireFailure, quietly } from './ledger-errors';
import {
  checkAcquireOptions,
  checkOpenOptions,
  checkResourceSpec,
  parseToken,
  validateResourceName,
  type HostAcquireOptions,
  type HostLedgerOptions,
  type HostResourceSpec,
  type HostResourceUsage,
} from './options';
import { QueuedRequests } from './queued';
import { checkSetResources, type SetAcquire, SetRequests } from './set-requests';
import { resourcesFromRaw, statusFromRaw, type HostLedgerStatus, type HostResourcesStatus } from './view';

/** What acquire reaches the ledger with, validated (by HostLedger's public methods or the backend). */
type Checked = SetAcquire;

/** The module-private doors into a HostLedger, set by its static block (see the end of the file). */
let inside: {
  acquire(l: HostLedger, resource: string, c: Checked): HostGrant | Promise<HostGrant> | null;
  resourceView(l: HostLedger, resource: string): HostResourcesStatus | null;
  raw(l: HostLedger): RawHostLedger;
  index(l: HostLedger, resource: string): number;
};

/**
 * A handle on a host-wide arbitration ledger: every process and worker_thread that opens the
 * same namespace shares capacities, queues and fencing counters.
 *
 * @example
 * const gpu0 = await HostLedger.open({ namespace: 'prod', resources: { 'gpu:0': 24576 } });
 * const grant = await gpu0.acquire('gpu:0', { units: 4096, priority: 80, timeoutMs: 3000 });
 * try { ... } finally { await grant.release(); }
 */
export class HostLedger {
  /** The namespace this handle opened. */
  readonly namespace: string;
  readonly #raw: RawHostLedger;
  /** The addon's status codes (native/host/ledger.h). */
  readonly #codes: RawHostCodes;
  readonly #scratch = new Float64Array(6);
  readonly #resources = new Map<string, number>();
  readonly #capacity = new Map<string, number>();
  readonly #queued: QueuedRequests;
  readonly #grants = new Set<HostGrant>();
  readonly #sets: SetRequests;
  /** Given to every grant: HostGrant.release() gives the hold back through it. */
  readonly #giveBack = (grant: HostGrant): void => this.#releaseGrant(grant);
  #closed = false;
  #violations = 0;

  static {
    inside = {
      acquire: (l, resource, c) => {
        l.#ensureOpen();
        let index = l.#resources.get(resource);
        if (index === undefined) index = l.#resourceIndex(validateResourceName('resource', resource));
        return l.#acquire(resource, index, c);
      },
      resourceView: (l, resource) => {
        l.#ensureOpen();
        let index = l.#resources.get(resource);
        if (index === undefined) {
          if (typeof resource !== 'string') return null;
          index = l.#call(() => l.#raw.findResource(resource));
          if (index < 0) return null;
          l.#resources.set(resource, index);
        }
        const view = l.#call(() => l.#raw.inspectResource(index));
        return view.resources.length === 0 ? null : resourcesFromRaw(view);
      },
      raw: (l) => l.#raw,
      index: (l, resource) => l.#resourceIndex(resource),
    };
  }

  private constructor(namespace: string, codes: RawHostCodes, raw: (self: HostLedger) => RawHostLedger) {
    this.namespace = namespace;
    this.#codes = codes;
    this.#raw = raw(this);
    this.#queued = new QueuedRequests(this.#raw, () => this.#closed);
    this.#sets = new SetRequests({
      raw: this.#raw,
      codes: this.#codes,
      queued: this.#queued,
      call: (fn) => this.#call(fn),
      index: (name) => this.#resourceIndex(name),
      grant: (...a) => this.#grant(...a),
      failure: (code, resource, index, units) => this.#failure(code, resource, index, units),
      capacity: (resource, index) => this.#capacityOf(resource, index),
      closed: () => this.#closed,
    });
  }

  /**
   * Opens (creating if needed) the ledger of `namespace` and defines `resources`. A ledger it
   * creates is private to this user (mode 0600) unless `group`/`mode` share it. Fails with
   * `E_UNSUPPORTED_PLATFORM` off Linux; `E_LEDGER_UNTRUSTED` when the file belongs to a user
   * other than this process's, root and `trustOwner`, or is open to every user;
   * `E_LEDGER_FULL` when 256 processes have the namespace open already; and
   * `E_BACKEND_UNAVAILABLE` when the file cannot be opened (`details.reason` 'access'), is not a
   * ledger of this layout version ('incompatible') or is corrupt ('corrupt'), or its lock has
   * been held for over 5 s ('lock-timeout'). See docs/host-ledger.md, "Trust model".
   */
  static async open(options: HostLedgerOptions): Promise<HostLedger> {
    return HostLedger.openSync(options);
  }

  /** Synchronous form of {@link open}. */
  static openSync(options: HostLedgerOptions): HostLedger {
    const { namespace, create, entries, access } = checkOpenOptions(options);
    const host = hostModule();
    let ledger: HostLedger;
    try {
      ledger = new HostLedger(
        namespace,
        host.codes,
        (self) =>
          new host.Ledger({
            namespace,
            threadId,
            create,
            mode: access.mode,
            ...(access.group === undefined ? {} : { group: access.group }),
            trustOwner: access.trustOwner,
            scratch: self.#scratch,
            onGrant: (request, slot, hi, lo, fence, lostReason, resource, gang) =>
              gang > 1 ? self.#sets.onGrant(request, gang, { resource, slot, hi, lo, fence }) : self.#onGrant(request, slot, hi, lo, fence, lostReason),
          }),
      );
    } catch (err) {
      throw fromNative(err);
    }
    try {
      for (const [name, capacity] of entries) {
        ledger.#resources.set(name, ledger.#raw.defineResource(name, capacity));
        ledger.#capacity.set(name, capacity);
      }
    } catch (err) {
      ledger.#raw.close();
      throw fromNative(err);
    }
    return ledger;
  }

  /** Refused releases (wrong or stale token) made through this handle. */
  get ownershipViolations(): number {
    return this.#violations;
  }

  /** Requests of this handle waiting in the ledger. */
  get pendingCount(): number {
    return this.#queued.size;
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits (off the event loop) until `units` of `resource` are granted. Rejects with
   * `E_DOES_NOT_FIT` at once if `units` exceeds the capacity, `E_TIMEOUT` after `timeoutMs`,
   * `E_ABORTED` when `signal` aborts, `E_QUEUE_FULL` when the ledger's tables are full,
   * `E_CLOSED` when the ledger is closed meanwhile. Timeout and abort leave no waiter behind.
   */
  async acquire(resource: string, options?: HostAcquireOptions): Promise<HostGrant> {
    const { units, priority, timeoutMs, signal, label, revokeAfterMs } = checkAcquireOptions(resource, options, true);
    this.#ensureOpen();
    const index = this.#resourceIndex(resource);
    if (signal?.aborted) throw abortError(resource, signal);
    const got = this.#acquire(resource, index, { units, priority, label, queue: timeoutMs !== 0, timeoutMs, signal, revokeAfterMs });
    if (got === null) throw new GpuArbiterError('E_TIMEOUT', `${resource} is busy and timeoutMs is 0`, { resource });
    return got;
  }

  /**
   * All of `resources` (2 to 16, e.g. the GPUs a tensor-parallel job spans), `units` of each,
   * or none: waits as acquire() does, in every resource's queue at once, and is granted in one
   * step when it is first in line on each and fits on each, so no process ever sees a part of
   * it held and two such requests never deadlock (docs/host-ledger.md, "All-or-nothing
   * requests"). Resolves with one HostGrant per resource, in the order asked; release each.
   */
  async acquireSet(resources: readonly string[], options?: HostAcquireOptions): Promise<HostGrant[]> {
    const names = checkSetResources(resources);
    const { units, priority, timeoutMs, signal, label, revokeAfterMs } = checkAcquireOptions(names[0]!, options, true);
    this.#ensureOpen();
    if (signal?.aborted) throw abortError(names.join(' + '), signal);
    const got = this.#sets.acquire(names, { units, priority, label, queue: timeoutMs !== 0, timeoutMs, signal, revokeAfterMs });
    if (got === null) throw new GpuArbiterError('E_TIMEOUT', `${names.join(' + ')} are busy and timeoutMs is 0`, { resources: names });
    return got;
  }

  /**
   * Grants now if `units` fit without jumping the host-wide queue, else returns null (never
   * waits, never queues). `E_DOES_NOT_FIT` when `units` exceeds the capacity.
   */
  tryAcquire(resource: string, options?: Pick<HostAcquireOptions, 'units' | 'priority' | 'label' | 'revokeAfterMs'>): HostGrant | null {
    const { units, priority, label, revokeAfterMs } = checkAcquireOptions(resource, options, false);
    this.#ensureOpen();
    const index = this.#resourceIndex(resource);
    return this.#acquire(resource, index, { units, priority, label, queue: false, timeoutMs: undefined, signal: undefined, revokeAfterMs }) as HostGrant | null;
  }

  /**
   * Defines `resource` or changes its capacity, external units and closed flag, host-wide.
   * Changes take effect at once: waiters that now fit are granted. Holders are never revoked,
   * even when the capacity shrinks below what they hold (new grants wait until it fits again).
   */
  setResource(resource: string, spec: HostResourceSpec): void {
    const { capacity, external, closed } = checkResourceSpec(resource, spec);
    this.#ensureOpen();
    const index = this.#call(() => this.#raw.defineResource(resource, capacity, true));
    this.#resources.set(resource, index);
    this.#capacity.set(resource, capacity);
    this.#call(() => this.#raw.setResourceState(index, external, closed));
  }

  /** The resource's figures right now, host-wide (one lock round trip, no allocation natively). */
  usage(resource: string): HostResourceUsage {
    validateResourceName('resource', resource);
    this.#ensureOpen();
    const index = this.#resourceIndex(resource);
    this.#call(() => this.#raw.usage(index));
    const s = this.#scratch;
    return {
      capacity: s[0]!,
      external: s[1]!,
      declared: s[2]!,
      closed: s[3] === 1,
      waiting: s[4]!,
      headPriority: Number.isNaN(s[5]) ? null : s[5]!,
    };
  }

  /**
   * Releases the hold a token names (for a token kept outside its HostGrant). Tokens are
   * capabilities: the hold of another handle or process ends exactly as {@link revoke} ends it -
   * its units are free at once and its grant's `lost` aborts in its process (reason
   * `'revoked'`), so its holder is never left believing it still holds. A token that is not
   * currently held - stale, forged, already released - is refused with `E_NOT_OWNER` and
   * counted in {@link ownershipViolations} and in the ledger's host-wide count.
   */
  release(token: string): void {
    const [slot, hi, lo] = parseToken(token);
    this.#ensureOpen();
    const { RELEASED } = this.#codes.release;
    const status = this.#call(() => this.#raw.release(slot, hi, lo));
    const taken = this.#takenReason(status);
    if (status !== RELEASED && taken === undefined) {
      this.#violations++;
      throw new GpuArbiterError('E_NOT_OWNER', `Token ${token} does not hold anything in namespace ${this.namespace}; release refused`, { token });
    }
    const g = this.#findGrant(slot, hi, lo);
    if (g) {
      this.#grants.delete(g);
      if (taken) g._markLost(`The hold on ${g.resource} had been revoked`, taken);
      else {
        g._onLost = undefined; // given back by its owner's token: released, not lost
        g._markLost('released through HostLedger.release(token)');
      }
    }
  }

  /**
   * Takes a hold away from whichever process of the host has it: its units are free at once
   * (waiters that now fit are granted) and its grant's `lost` signal aborts in its process
   * (through that process's waiter thread, microseconds later). The token is the capability:
   * any process may revoke with it. Returns false when the token holds nothing (stale,
   * released, already revoked).
   */
  revoke(token: string, reason: HostLostReason = 'revoked'): boolean {
    const [slot, hi, lo] = parseToken(token);
    const reasons = this.#codes.lostReason;
    if (typeof reason !== 'string' || !Object.hasOwn(reasons, reason)) {
      throw invalid('reason', `one of ${Object.keys(reasons).join(', ')}`, reason);
    }
    this.#ensureOpen();
    return this.#call(() => this.#raw.revoke(slot, hi, lo, reasons[reason]));
  }

  /** Host-wide view of the ledger: resources, holders, waiters in queue order, counters. */
  inspect(): HostLedgerStatus {
    this.#ensureOpen();
    return statusFromRaw(
      this.namespace,
      this.#call(() => this.#raw.inspect()),
    );
  }

  /**
   * Releases this handle's holds (their `lost` signals abort) and removes its waiters (they
   * reject with `E_CLOSED`). Idempotent. Other handles on the namespace are unaffected.
   */
  async close(): Promise<void> {
    this.closeSync();
  }

  /** Synchronous form of {@link close}. */
  closeSync(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#raw.close(); // frees holds and waiters natively first: nothing can be granted after
    for (const p of this.#queued.takeAll()) {
      p.reject(new GpuArbiterError('E_CLOSED', `The host ledger ${this.namespace} was closed while waiting for ${p.resource}`, { resource: p.resource }));
    }
    for (const g of this.#grants) g._markLost(`The host ledger ${this.namespace} was closed while holding ${g.resource}`);
    this.#grants.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.closeSync();
  }

  // One trip down: grants inline (the grant), answers busy (null: only with queue false), or
  // queues (the promise of the grant). Throws what can never be granted. Arguments are valid.
  #acquire(resource: string, index: number, c: Checked): HostGrant | Promise<HostGrant> | null {
    const code = this.#call(() => this.#raw.acquire(index, c.units, c.priority, c.queue, c.label, c.revokeAfterMs));
    const s = this.#scratch;
    const { GRANTED, QUEUED, BUSY } = this.#codes.acquire;
    if (code === GRANTED) return this.#grant(resource, c.units, c.priority, s[0]!, s[1]!, s[2]!, s[3]!);
    if (code === BUSY) return null;
    if (code !== QUEUED) throw this.#failure(code, resource, index, c.units);
    return this.#queued.wait(s[4]!, s[0]!, { resource, ...c }, () => abortError(resource, c.signal!));
  }

  /**
   * Gives back the holds of a set (acquireSet's grants) in one step: no process ever sees part
   * of it still held, and a set waiting for the same resources is granted whole. Grants already
   * released are skipped. `E_NOT_OWNER` as release() when a hold was already gone.
   */
  releaseSet(grants: readonly HostGrant[]): void {
    if (!Array.isArray(grants) || grants.some((g) => !(g instanceof HostGrant))) throw invalid('grants', 'an array of HostGrants', grants);
    const mine = grants.filter((g) => g._claimRelease());
    for (const g of mine) this.#grants.delete(g);
    if (this.#closed || mine.length === 0) return;
    const statuses = this.#call(() => this.#raw.releaseSet(mine.flatMap((g) => [g.slot, g.tokenHi, g.tokenLo])));
    let refused: GpuArbiterError | undefined;
    for (const [k, g] of mine.entries()) refused = this.#afterRelease(g, statuses[k]!) ?? refused;
    if (refused) throw refused;
  }

  // HostGrant.release(), through #giveBack.
  #releaseGrant(grant: HostGrant): void {
    this.#grants.delete(grant);
    if (this.#closed) return; // close() already gave it back
    const status = this.#call(() => this.#raw.release(grant.slot, grant.tokenHi, grant.tokenLo));
    const refused = this.#afterRelease(grant, status);
    if (refused) throw refused;
  }

  // What a release status means for the grant: the refusal to throw, if any.
  #afterRelease(grant: HostGrant, status: number): GpuArbiterError | undefined {
    const taken = this.#takenReason(status);
    if (taken) {
      // Revoked before we heard of it: nothing to give back, and not the caller's fault. The
      // reason is the ledger's ('expired' past revokeAfterMs), as the notice would have said.
      grant._markLost(`The hold on ${grant.resource} had been revoked`, taken);
    } else if (status !== this.#codes.release.RELEASED) {
      this.#violations++;
      grant._markLost(`The hold on ${grant.resource} was already gone when released`);
      return new GpuArbiterError('E_NOT_OWNER', `The hold on ${grant.resource} was already gone when released`, { resource: grant.resource });
    }
    return undefined;
  }

  // A release status saying the hold had been taken away already: why (undefined: it had not).
  #takenReason(status: number): HostLostReason | undefined {
    const { WAS_REVOKED, WAS_EXPIRED } = this.#codes.release;
    return status === WAS_EXPIRED ? 'expired' : status === WAS_REVOKED ? 'revoked' : undefined;
  }

  #resourceIndex(resource: string): number {
    let index = this.#resources.get(resource);
    if (index === undefined) {
      // Defined by another process (or handle) of the namespace?
      index = this.#call(() => this.#raw.findResource(resource));
      if (index < 0) throw invalid('resource', `a resource defined in namespace ${this.namespace}`, resource);
      this.#resources.set(resource, index);
    }
    return index;
  }

  #ensureOpen(): void {
    if (this.#closed) throw new GpuArbiterError('E_CLOSED', `The host ledger ${this.namespace} is closed`);
  }

  #call<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw fromNative(err);
    }
  }

  #failure(code: number, resource: string, index: number, units: number): GpuArbiterError {
    return acquireFailure(this.#codes.acquire, code, this.namespace, resource, units, () => this.#capacityOf(resource, index));
  }

  #capacityOf(resource: string, index: number): string {
    const known = this.#capacity.get(resource);
    if (known !== undefined) return String(known);
    const r = this.#raw.inspectResource(index).resources[0];
    return r ? String(r.capacity) : 'unknown';
  }

  #grant(resource: string, units: number, priority: number, slot: number, hi: number, lo: number, fence: number): HostGrant {
    const g = new HostGrant(this.#giveBack, resource, units, priority, slot, hi, lo, fence);
    this.#grants.add(g);
    return g;
  }

  #findGrant(slot: number, hi: number, lo: number): HostGrant | undefined {
    for (const g of this.#grants) if (g.slot === slot && g.tokenHi === hi && g.tokenLo === lo) return g;
    return undefined;
  }

  #lostReason(code: number): HostLostReason {
    const reasons = this.#codes.lostReason;
    for (const name of Object.keys(reasons) as HostLostReason[]) if (reasons[name] === code) return name;
    return 'revoked';
  }

  // JS thread, through the ThreadSafeFunction.
  #onGrant(request: number, slot: number, hi: number, lo: number, fence: number, lostReason: number): void {
    if (lostReason > 0) {
      // One of our holds was revoked (by any process); its units are already free.
      const g = this.#findGrant(slot, hi, lo);
      if (g) {
        this.#grants.delete(g);
        const reason = this.#lostReason(lostReason);
        g._markLost(`The hold on ${g.resource} was taken away (${reason})`, reason);
      }
      // The slot waited for us to hear (a release racing the notice stays quiet): free it now.
      // (A ledger found corrupt or stuck meanwhile refuses; nothing to report it to here.)
      if (!this.#closed) quietly(() => this.#raw.forget(slot, hi, lo));
      return;
    }
    const p = this.#queued.take(request);
    if (p === undefined) {
      // Its waiter gave up (timeout/abort) while the grant was in flight: give it back.
      if (!this.#closed) quietly(() => this.#raw.release(slot, hi, lo));
      return;
    }
    p.resolve(this.#grant(p.resource, p.units, p.priority, slot, hi, lo, fence));
  }
}

/** @internal What the trusted path takes: validated by the caller (the host backend). */
export type TrustedAcquire = Checked;

/**
 * @internal The host backend's one trip down to the ledger: the request is valid (the backend
 * checked it); only an unknown resource name is checked, on a cache miss. Grants inline (the
 * grant), answers busy (null; queue false only) or queues (the promise). E_CLOSED when closed.
 */
export function acquireTrusted(ledger: HostLedger, resource: string, request: TrustedAcquire): HostGrant | Promise<HostGrant> | null {
  return inside.acquire(ledger, resource, request);
}

/**
 * @internal One resource's part of inspect() - the resource, its holders and waiters - copied
 * natively from that resource alone; null when it is not defined. E_CLOSED when closed.
 */
export function inspectResource(ledger: HostLedger, resource: string): HostResourcesStatus | null {
  return inside.resourceView(ledger, resource);
}

/** @internal The raw addon handle (test hooks, ./test-hooks.ts). */
export function rawLedger(ledger: HostLedger): RawHostLedger {
  return inside.raw(ledger);
}

/** @internal A resource's index in the ledger (test hooks); E_INVALID_ARGUMENT when undefined. */
export function resourceIndex(ledger: HostLedger, resource: string): number {
  return inside.index(ledger, resource);
}
