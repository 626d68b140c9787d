// Host-wide GPU mutexes and VRAM semaphores: one arbitration ledger shared by every process and
// worker_thread of the host, in POSIX shared memory (native/host/). This file is the typed,
// validated API over the raw addon; waiting happens on a native thread, never here.
import type { ResourceUsage } from '../contract';
import * as fs from 'node:fs';
import { threadId } from 'node:worker_threads';
import { GpuArbiterError } from '../../errors';
import { addon, type RawHostLedger, type RawHostModule, type RawHostView } from '../../native/addon';
import { booleanValue, integerInRange, invalid, knownKeys, nonEmptyString, optionsObject } from '../../util/validate';

const SHM_DIR = '/dev/shm';
const PREFIX = 'gpu-arbiter-';
const NAMESPACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const RESOURCE_RE = /^[\x21-\x7e]{1,63}$/;
const LABEL_RE = /^[\x20-\x7e]{0,47}$/;
const MAX_UNITS = Number.MAX_SAFE_INTEGER;
const MAX_PRIORITY = 1_000_000;
const MAX_TIMEOUT_MS = 2_147_483_647; // setTimeout's limit

/** Why a hold was lost (as in the backend contract's LostReason). */
export type HostLostReason = 'revoked' | 'expired' | 'holder-dead' | 'backend-closed';
const LOST_REASONS: readonly HostLostReason[] = ['revoked', 'expired', 'holder-dead', 'backend-closed'];

// Codes of RawHostLedger.release().
const RELEASED = 0;
const WAS_REVOKED = 1;

// Codes of RawHostLedger.acquire().
const GRANTED = 0;
const QUEUED = 1;
const BUSY = 2;
const DOES_NOT_FIT = 3;
const TABLE_FULL = 4;
const UNKNOWN_RESOURCE = 5;

export interface HostLedgerOptions {
  /** Ledger name: `/dev/shm/gpu-arbiter-<namespace>`. Letters, digits, `_`, `.`, `-`. */
  namespace: string;
  /**
   * Resources to define (or check) with their capacity: VRAM MiB for a memory resource, 1 for a
   * plain mutex. A resource already defined with another capacity is refused.
   * @example { 'gpu:0': 24576, 'gpu:0:lock': 1 }
   * @default {}
   */
  resources?: Record<string, number>;
  /**
   * Create the ledger if it does not exist. `false` fails with `E_BACKEND_UNAVAILABLE`
   * instead (for status tools that must not create namespaces).
   * @default true
   */
  create?: boolean;
}

export interface HostAcquireOptions {
  /** Units to hold (MiB, or 1 for a mutex). @default 1 */
  units?: number;
  /** Higher is served first, host-wide; FIFO within a priority. @default 0 */
  priority?: number;
  /** Give up after this long with `E_TIMEOUT` (0: try once). @default no limit */
  timeoutMs?: number;
  /** Aborting removes the waiter at once and rejects with `E_ABORTED`. */
  signal?: AbortSignal;
  /**
   * Shown with the holder or waiter in inspect() and `gpu-arbiter status` (e.g. task and lease
   * id): up to 47 printable ASCII characters.
   * @default ''
   */
  label?: string;
}

export interface HostResourceSpec {
  /** The most units ever granted at once; changing it reschedules the waiters. */
  capacity: number;
  /**
   * Units in use by parties that hold no grant (GPU: VRAM of processes outside the ledger, from
   * NVML); grants need `used + external + units <= capacity`. Host-wide.
   * @default 0
   */
  external?: number;
  /** No new grants while true (e.g. the GPU is lost); waiters keep waiting. @default false */
  closed?: boolean;
}

/** What placement reads about a resource (host-wide, at the moment of the call): the backend contract's figures. */
export type HostResourceUsage = ResourceUsage;

export interface HostHolderInfo {
  resource: string;
  /** The acquire's `label` ('' when none). */
  label: string;
  pid: number;
  /** worker_threads threadId (0 = main thread). */
  thread: number;
  units: number;
  priority: number;
  /** When the hold was granted (wall clock). */
  since: Date;
  fencingToken: number;
}

export interface HostWaiterInfo {
  resource: string;
  label: string;
  pid: number;
  thread: number;
  units: number;
  priority: number;
  since: Date;
  /** Position in the host-wide queue of its resource (0 = next). */
  position: number;
}

export interface HostLedgerStatus {
  namespace: string;
  resources: Array<{
    name: string;
    capacity: number;
    /** Units granted to holders. */
    used: number;
    /** Units used outside the ledger (see HostResourceSpec.external). */
    external: number;
    closed: boolean;
    waiting: number;
    lastFencingToken: number;
  }>;
  holders: HostHolderInfo[];
  waiters: HostWaiterInfo[];
  /** Processes registered on the ledger (pid and start time in clock ticks since boot). */
  processes: Array<{ pid: number; startTime: number }>;
  /** Host-wide count of refused releases (wrong or stale token). */
  ownershipViolations: number;
  /** Times a process died inside the ledger's lock and the ledger was repaired. */
  repairs: number;
  /** Dead processes whose holds and waiters were reclaimed. */
  reclaimedProcesses: number;
  /** Total grants since the ledger was created. */
  grants: number;
}

interface Pending {
  request: number;
  slot: number;
  resource: string;
  units: number;
  priority: number;
  resolve(grant: HostGrant): void;
  reject(err: GpuArbiterError): void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

function platformCheck(): void {
  if (process.platform !== 'linux') {
    throw new GpuArbiterError(
      'E_UNSUPPORTED_PLATFORM',
      `The host ledger needs Linux (POSIX shared memory, robust mutexes, futexes); this is ${process.platform}-${process.arch}`,
    );
  }
}

function hostModule(): RawHostModule {
  platformCheck();
  return addon().host;
}

/** Turns an Error with a `code` thrown by the addon into a GpuArbiterError. */
function fromNative(err: unknown): unknown {
  const code = (err as { code?: unknown })?.code;
  if (err instanceof Error && typeof code === 'string' && code.startsWith('E_')) {
    return new GpuArbiterError(code as GpuArbiterError['code'], err.message, {}, { cause: err });
  }
  return err;
}

/** @internal Checks a ledger namespace name; the message names `field`. */
export function validateNamespace(field: string, value: unknown): string {
  if (typeof value !== 'string' || !NAMESPACE_RE.test(value)) {
    throw invalid(field, 'a namespace of 1-100 letters, digits, "_", "." or "-" (not starting with "." or "-")', value);
  }
  return value;
}

function validateResourceName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !RESOURCE_RE.test(value)) {
    throw invalid(field, 'a resource name of 1-63 printable ASCII characters without spaces', value);
  }
  return value;
}

/** [slot, tokenHi, tokenLo] of a HostGrant.token, or E_INVALID_ARGUMENT. */
function parseToken(token: unknown): [number, number, number] {
  const m = typeof token === 'string' ? /^h(\d{1,5})\.([0-9a-f]{8})([0-9a-f]{8})$/.exec(token) : null;
  if (!m) throw invalid('token', 'a grant token (HostGrant.token)', token);
  return [Number(m[1]), parseInt(m[2], 16), parseInt(m[3], 16)];
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/**
 * A hold on a host resource. Release it exactly once (further calls do nothing), or use
 * `await using`.
 */
export class HostGrant {
  /** The resource held. */
  readonly resource: string;
  /** Units held. */
  readonly units: number;
  /** Priority it was requested with. */
  readonly priority: number;
  /** @internal */ readonly slot: number;
  /** @internal */ readonly tokenHi: number;
  /** @internal */ readonly tokenLo: number;
  readonly #fence: number;
  readonly #ledger: HostLedger;
  #released = false;
  #lost: AbortController | undefined;
  /**
   * @internal Called once when the hold is taken away (revoke from any process, close, found
   * gone), before `lost` aborts: lets the arbiter's host backend report losses without creating
   * an AbortController for every grant.
   */
  _onLost: ((reason: HostLostReason) => void) | undefined = undefined;

  /** @internal */
  constructor(ledger: HostLedger, resource: string, units: number, priority: number, slot: number, hi: number, lo: number, fence: number) {
    this.#ledger = ledger;
    this.resource = resource;
    this.units = units;
    this.priority = priority;
    this.slot = slot;
    this.tokenHi = hi;
    this.tokenLo = lo;
    this.#fence = fence;
  }

  /**
   * Ownership token: opaque, random, valid until released. `HostLedger.release(token)` with a
   * stale or forged one is refused with `E_NOT_OWNER` and counted.
   */
  get token(): string {
    return `h${this.slot}.${hex8(this.tokenHi)}${hex8(this.tokenLo)}`;
  }

  /**
   * Strictly increasing per resource across every process of the host: pass it to storage that
   * must reject writes from a holder that has since lost the resource. A number, as in every
   * backend (src/backends/types.ts): the ledger's counter is 64-bit, but a double holds it
   * exactly up to 2^53 grants per resource (285 years at a million grants a second), and a
   * number compares, serialises and crosses JSON with no special care, unlike a bigint.
   */
  get fencingToken(): number {
    return this.#fence;
  }

  /**
   * Aborts if the hold is taken away: revoked by any process of the host
   * ({@link HostLedger.revoke}), the ledger was closed (or its worker_thread is exiting) while
   * holding, or a release found the hold already gone. Reason: a GpuArbiterError
   * `E_LEASE_LOST` whose `details.reason` is a {@link HostLostReason}.
   */
  get lost(): AbortSignal {
    this.#lost ??= new AbortController();
    return this.#lost.signal;
  }

  /** True once released (or lost). */
  get released(): boolean {
    return this.#released;
  }

  /** Gives the units back. Idempotent: only the first call does anything. */
  async release(): Promise<void> {
    this.releaseSync();
  }

  /** Synchronous form of {@link release} (the ledger operation takes microseconds). */
  releaseSync(): void {
    if (this.#released) return;
    this.#released = true;
    this.#ledger._releaseGrant(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.releaseSync();
  }

  /** @internal The ledger took it away (revoke, close, or found gone). */
  _markLost(message: string, reason: HostLostReason = 'backend-closed'): void {
    if (this.#released && this.#lost?.signal.aborted) return;
    this.#released = true;
    const hook = this._onLost;
    if (hook !== undefined) {
      this._onLost = undefined;
      try {
        hook(reason);
      } catch {
        // An observer that throws must not keep `lost` from aborting.
      }
    }
    this.#lost ??= new AbortController();
    if (!this.#lost.signal.aborted) {
      this.#lost.abort(new GpuArbiterError('E_LEASE_LOST', message, { resource: this.resource, reason }));
    }
  }
}

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
  readonly #scratch = new Float64Array(6);
  readonly #resources = new Map<string, number>();
  readonly #capacity = new Map<string, number>();
  readonly #pending = new Map<number, Pending>();
  readonly #grants = new Set<HostGrant>();
  #closed = false;
  #violations = 0;

  private constructor(namespace: string, raw: RawHostLedger | ((self: HostLedger) => RawHostLedger)) {
    this.namespace = namespace;
    this.#raw = typeof raw === 'function' ? raw(this) : raw;
  }

  /**
   * Opens (creating if needed) the ledger of `namespace` and defines `resources`. Fails with
   * `E_UNSUPPORTED_PLATFORM` off Linux, and `E_BACKEND_UNAVAILABLE` when the file is not a
   * ledger of this layout version.
   */
  static async open(options: HostLedgerOptions): Promise<HostLedger> {
    return HostLedger.openSync(options);
  }

  /** Synchronous form of {@link open}. */
  static openSync(options: HostLedgerOptions): HostLedger {
    const opts = optionsObject<HostLedgerOptions>('options', options);
    if (options === undefined) throw invalid('options', 'an object', options);
    knownKeys('options', opts, ['namespace', 'resources', 'create']);
    const create = opts.create === undefined ? true : booleanValue('options.create', opts.create);
    const namespace = validateNamespace('options.namespace', opts.namespace);
    const resources = optionsObject<Record<string, number>>('options.resources', opts.resources);
    const entries = Object.entries(resources) as Array<[string, number]>;
    for (const [name, capacity] of entries) {
      validateResourceName(`options.resources key ${JSON.stringify(name)}`, name);
      integerInRange(`options.resources[${JSON.stringify(name)}]`, capacity, 1, MAX_UNITS);
    }
    const host = hostModule();
    let ledger: HostLedger;
    try {
      ledger = new HostLedger(namespace, (self) =>
        new host.Ledger({
          namespace,
          threadId,
          create,
          scratch: self.#scratch,
          onGrant: (request, slot, hi, lo, fence, lostReason) => self.#onGrant(request, slot, hi, lo, fence, lostReason),
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
    return this.#pending.size;
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
    const { index, units, priority, timeoutMs, signal, label } = this.#check(resource, options, true);
    if (signal?.aborted) throw this.#abortError(resource, signal);
    const code = this.#call(() => this.#raw.acquire(index, units, priority, timeoutMs !== 0, label));
    const s = this.#scratch;
    switch (code) {
      case GRANTED:
        return this.#grant(resource, units, priority, s[0], s[1], s[2], s[3]);
      case QUEUED:
        break;
      case BUSY:
        throw new GpuArbiterError('E_TIMEOUT', `${resource} is busy and timeoutMs is 0`, { resource });
      default:
        throw this.#failure(code, resource, units);
    }
    const slot = s[0];
    const request = s[4];
    return new Promise<HostGrant>((resolve, reject) => {
      const pending: Pending = {
        request, slot, resource, units, priority, resolve, reject, signal, timer: undefined, onAbort: undefined,
      };
      if (timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.#giveUp(pending, new GpuArbiterError('E_TIMEOUT', `Timed out after ${timeoutMs} ms waiting for ${units} unit(s) of ${resource}`, { resource, timeoutMs }));
        }, timeoutMs);
      }
      if (signal) {
        pending.onAbort = () => this.#giveUp(pending, this.#abortError(resource, signal));
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      if (this.#pending.size === 0) this.#raw.ref(); // keep the loop alive while waiting
      this.#pending.set(request, pending);
    });
  }

  /**
   * Grants now if `units` fit without jumping the host-wide queue, else returns null (never
   * waits, never queues). `E_DOES_NOT_FIT` when `units` exceeds the capacity.
   */
  tryAcquire(resource: string, options?: Pick<HostAcquireOptions, 'units' | 'priority' | 'label'>): HostGrant | null {
    const { index, units, priority, label } = this.#check(resource, options, false);
    const code = this.#call(() => this.#raw.acquire(index, units, priority, false, label));
    const s = this.#scratch;
    if (code === GRANTED) return this.#grant(resource, units, priority, s[0], s[1], s[2], s[3]);
    if (code === BUSY) return null;
    throw this.#failure(code, resource, units);
  }

  /**
   * Defines `resource` or changes its capacity, external units and closed flag, host-wide.
   * Changes take effect at once: waiters that now fit are granted. Holders are never revoked,
   * even when the capacity shrinks below what they hold (new grants wait until it fits again).
   */
  setResource(resource: string, spec: HostResourceSpec): void {
    validateResourceName('resource', resource);
    const s = optionsObject<HostResourceSpec>('spec', spec);
    if (spec === undefined) throw invalid('spec', 'an object', spec);
    knownKeys('spec', s, ['capacity', 'external', 'closed']);
    const capacity = integerInRange('spec.capacity', s.capacity, 1, MAX_UNITS);
    const external = s.external === undefined ? 0 : integerInRange('spec.external', s.external, 0, MAX_UNITS);
    const closed = s.closed === undefined ? false : booleanValue('spec.closed', s.closed);
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
      capacity: s[0], external: s[1], declared: s[2], closed: s[3] === 1, waiting: s[4],
      headPriority: Number.isNaN(s[5]) ? null : s[5],
    };
  }

  /**
   * Releases the hold a token names (for a token kept outside its HostGrant). A token that is
   * not currently held - stale, forged, already released - is refused with `E_NOT_OWNER` and
   * counted in {@link ownershipViolations} and in the ledger's host-wide count.
   */
  release(token: string): void {
    const [slot, hi, lo] = parseToken(token);
    this.#ensureOpen();
    const status = this.#call(() => this.#raw.release(slot, hi, lo));
    if (status !== RELEASED && status !== WAS_REVOKED) {
      this.#violations++;
      throw new GpuArbiterError('E_NOT_OWNER', `Token ${token} does not hold anything in namespace ${this.namespace}; release refused`, { token });
    }
    const g = this.#findGrant(slot, hi, lo);
    if (g) {
      this.#grants.delete(g);
      if (status === WAS_REVOKED) g._markLost(`The hold on ${g.resource} had been revoked`, 'revoked');
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
    if (!LOST_REASONS.includes(reason)) throw invalid('reason', `one of ${LOST_REASONS.join(', ')}`, reason);
    this.#ensureOpen();
    return this.#call(() => this.#raw.revoke(slot, hi, lo, LOST_REASONS.indexOf(reason) + 1));
  }

  /** Host-wide view of the ledger: resources, holders, waiters in queue order, counters. */
  inspect(): HostLedgerStatus {
    this.#ensureOpen();
    return statusFromRaw(this.namespace, this.#call(() => this.#raw.inspect()));
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
    for (const p of [...this.#pending.values()]) {
      this.#settle(p);
      p.reject(new GpuArbiterError('E_CLOSED', `The host ledger ${this.namespace} was closed while waiting for ${p.resource}`, { resource: p.resource }));
    }
    for (const g of this.#grants) g._markLost(`The host ledger ${this.namespace} was closed while holding ${g.resource}`);
    this.#grants.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.closeSync();
  }

  /**
   * Test hooks (not part of the API; refused unless GPU_ARBITER_TEST_HOOKS=1): see
   * native/host/ledger.h. @internal
   */
  _testParkInLock(): never {
    return this.#call(() => this.#raw.testParkInLock());
  }

  /** @internal */
  _testInjectHolder(resource: string, units: number, pid: number, startTime: number): number {
    const index = this.#resourceIndex(resource);
    return this.#call(() => this.#raw.testInjectHolder(index, units, pid, startTime));
  }

  /** @internal Called by HostGrant.release(). */
  _releaseGrant(grant: HostGrant): void {
    this.#grants.delete(grant);
    if (this.#closed) return; // close() already gave it back
    const status = this.#call(() => this.#raw.release(grant.slot, grant.tokenHi, grant.tokenLo));
    if (status === WAS_REVOKED) {
      // Revoked before we heard of it: nothing to give back, and not the caller's fault.
      grant._markLost(`The hold on ${grant.resource} had been revoked`, 'revoked');
    } else if (status !== RELEASED) {
      this.#violations++;
      grant._markLost(`The hold on ${grant.resource} was already gone when released`);
      throw new GpuArbiterError('E_NOT_OWNER', `The hold on ${grant.resource} was already gone when released`, { resource: grant.resource });
    }
  }

  #check(resource: string, options: HostAcquireOptions | undefined, full: boolean) {
    validateResourceName('resource', resource);
    const opts = optionsObject<HostAcquireOptions>('options', options);
    knownKeys('options', opts, full ? ['units', 'priority', 'timeoutMs', 'signal', 'label'] : ['units', 'priority', 'label']);
    const units = opts.units === undefined ? 1 : integerInRange('options.units', opts.units, 1, MAX_UNITS);
    const priority = opts.priority === undefined ? 0 : integerInRange('options.priority', opts.priority, -MAX_PRIORITY, MAX_PRIORITY);
    const timeoutMs = opts.timeoutMs === undefined ? undefined : integerInRange('options.timeoutMs', opts.timeoutMs, 0, MAX_TIMEOUT_MS);
    const signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('options.signal', 'an AbortSignal', signal);
    const label = opts.label === undefined ? '' : opts.label;
    if (typeof label !== 'string' || !LABEL_RE.test(label)) throw invalid('options.label', 'a label of up to 47 printable ASCII characters', label);
    this.#ensureOpen();
    return { index: this.#resourceIndex(resource), units, priority, timeoutMs, signal, label };
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

  #failure(code: number, resource: string, units: number): GpuArbiterError {
    if (code === DOES_NOT_FIT) {
      return new GpuArbiterError('E_DOES_NOT_FIT', `${units} unit(s) can never fit ${resource} (capacity ${this.#capacityOf(resource)})`, { resource, units });
    }
    if (code === TABLE_FULL) {
      return new GpuArbiterError('E_QUEUE_FULL', `The host ledger ${this.namespace} has no free holder/waiter slot`, { resource });
    }
    if (code === UNKNOWN_RESOURCE) return invalid('resource', `a resource defined in namespace ${this.namespace}`, resource);
    return new GpuArbiterError('E_BACKEND_UNAVAILABLE', `Unexpected ledger status ${code}`, { resource });
  }

  #capacityOf(resource: string): string {
    const known = this.#capacity.get(resource);
    if (known !== undefined) return String(known);
    const r = this.#raw.inspect().resources.find((x) => x.name === resource);
    return r ? String(r.capacity) : 'unknown';
  }

  #abortError(resource: string, signal: AbortSignal): GpuArbiterError {
    return new GpuArbiterError('E_ABORTED', `Acquiring ${resource} was aborted`, { resource, reason: signal.reason });
  }

  #grant(resource: string, units: number, priority: number, slot: number, hi: number, lo: number, fence: number): HostGrant {
    const g = new HostGrant(this, resource, units, priority, slot, hi, lo, fence);
    this.#grants.add(g);
    return g;
  }

  #settle(p: Pending): void {
    this.#pending.delete(p.request);
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    if (this.#pending.size === 0 && !this.#closed) this.#raw.unref();
  }

  // Timeout or abort: leave the queue now. If the grant was already made, give it straight back.
  #giveUp(p: Pending, err: GpuArbiterError): void {
    if (!this.#pending.has(p.request)) return;
    this.#settle(p);
    // 2 = already picked up by the waiter thread: #onGrant finds no pending entry and releases.
    this.#call(() => this.#raw.cancel(p.slot, p.request));
    p.reject(err);
  }

  #findGrant(slot: number, hi: number, lo: number): HostGrant | undefined {
    for (const g of this.#grants) if (g.slot === slot && g.tokenHi === hi && g.tokenLo === lo) return g;
    return undefined;
  }

  // JS thread, through the ThreadSafeFunction.
  #onGrant(request: number, slot: number, hi: number, lo: number, fence: number, lostReason: number): void {
    if (lostReason > 0) {
      // One of our holds was revoked (by any process); its units are already free.
      const g = this.#findGrant(slot, hi, lo);
      if (g) {
        this.#grants.delete(g);
        const reason = LOST_REASONS[lostReason - 1] ?? 'revoked';
        g._markLost(`The hold on ${g.resource} was taken away (${reason})`, reason);
      }
      // The slot waited for us to hear (a release racing the notice stays quiet): free it now.
      if (!this.#closed) this.#raw.forget(slot, hi, lo);
      return;
    }
    const p = this.#pending.get(request);
    if (p === undefined) {
      // Its waiter gave up (timeout/abort) while the grant was in flight: give it back.
      if (!this.#closed) this.#raw.release(slot, hi, lo);
      return;
    }
    this.#settle(p);
    p.resolve(this.#grant(p.resource, p.units, p.priority, slot, hi, lo, fence));
  }
}

function statusFromRaw(namespace: string, v: RawHostView): HostLedgerStatus {
  const waiters = [...v.waiters].filter((w) => !w.granted).sort((a, b) => b.priority - a.priority || a.seq - b.seq);
  const positions = new Map<string, number>();
  return {
    namespace,
    resources: v.resources.map((r) => ({
      name: r.name, capacity: r.capacity, used: r.used, external: r.external, closed: r.closed, waiting: r.waiting,
      lastFencingToken: r.fence,
    })),
    holders: v.holders.map((h) => ({
      resource: h.resource, label: h.label, pid: h.pid, thread: h.thread, units: h.units, priority: h.priority,
      since: new Date(h.sinceMs), fencingToken: h.fence,
    })),
    waiters: waiters.map((w) => {
      const position = positions.get(w.resource) ?? 0;
      positions.set(w.resource, position + 1);
      return { resource: w.resource, label: w.label, pid: w.pid, thread: w.thread, units: w.units, priority: w.priority, since: new Date(w.sinceMs), position };
    }),
    processes: v.processes,
    ownershipViolations: v.ownershipViolations,
    repairs: v.repairs,
    reclaimedProcesses: v.reclaimedProcesses,
    grants: v.grants,
  };
}

/**
 * The same view as {@link HostLedger.inspect}, read without opening a handle: this process is
 * not registered in the ledger and no thread is started (for status tools). Fails with
 * `E_BACKEND_UNAVAILABLE` when the namespace has no ledger or an incompatible one.
 */
export function inspectHostNamespace(namespace: string): HostLedgerStatus {
  validateNamespace('namespace', namespace);
  const host = hostModule();
  let raw: RawHostView;
  try {
    raw = host.inspectNamespace(namespace);
  } catch (err) {
    throw fromNative(err);
  }
  return statusFromRaw(namespace, raw);
}

/** Namespaces with a ledger on this host (`/dev/shm/gpu-arbiter-*`); [] off Linux. */
export function listHostNamespaces(): string[] {
  if (process.platform !== 'linux') return [];
  let names: string[];
  try {
    names = fs.readdirSync(SHM_DIR);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(PREFIX) && n.length > PREFIX.length).map((n) => n.slice(PREFIX.length)).sort();
}

/**
 * Removes a namespace's ledger file. Processes that have it open keep using their mapping
 * (and can no longer be reached by new ones): call it when nothing uses the namespace.
 * Returns false when there was nothing to remove.
 */
export function removeHostNamespace(namespace: string): boolean {
  validateNamespace('namespace', namespace);
  platformCheck();
  try {
    fs.unlinkSync(`${SHM_DIR}/${PREFIX}${namespace}`);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Path of a namespace's ledger file. */
export function hostNamespacePath(namespace: string): string {
  return `${SHM_DIR}/${PREFIX}${validateNamespace('namespace', namespace)}`;
}
