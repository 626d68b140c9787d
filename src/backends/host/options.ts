// What HostLedger's public methods take, and the checks that refuse bad input at that boundary
// (E_INVALID_ARGUMENT naming the field). Code beneath the boundary (the host backend's trusted
// path, see ledger.ts) has validated already and skips them.
import { BACKEND_MAX_PRIORITY, type ResourceUsage } from '../contract';
import { booleanValue, integerInRange, invalid, knownKeys, optionsObject, MAX_TIMER_MS } from '../../util/validate';
import { checkAccessOptions, type CheckedAccess, type HostAccessOptions } from './access';
import { validateNamespace } from './namespaces';

const RESOURCE_RE = /^[\x21-\x7e]{1,63}$/;
const LABEL_RE = /^[\x20-\x7e]{0,127}$/;
const TOKEN_RE = /^h(\d{1,5})\.([0-9a-f]{8})([0-9a-f]{8})$/;
/** @internal Units are integers the ledger (u64) and a double both hold exactly. */
export const MAX_UNITS = Number.MAX_SAFE_INTEGER;
/** @internal The ledger's priority range is -MAX_PRIORITY..MAX_PRIORITY. */
export const MAX_PRIORITY = BACKEND_MAX_PRIORITY;

/** What HostLedger.open() takes; the trust model's part is {@link HostAccessOptions}. */
export interface HostLedgerOptions extends HostAccessOptions {
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
   * id): up to 127 printable ASCII characters.
   * @default ''
   */
  label?: string;
  /**
   * Once the hold is this old, the ledger revokes it (its `lost` aborts with reason `'expired'`):
   * whichever process of the host next sweeps the ledger does it (a request that has to wait, an
   * inspect, or the waiter thread of a process with waiters, every 10 ms), so it works even when
   * the holding process cannot act (stopped with SIGSTOP, hung). Counted from the grant.
   * @default no limit
   */
  revokeAfterMs?: number;
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

/** @internal Checks a resource name (what the ledger stores: 1-63 printable ASCII, no spaces). */
export function validateResourceName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !RESOURCE_RE.test(value)) {
    throw invalid(field, 'a resource name of 1-63 printable ASCII characters without spaces', value);
  }
  return value;
}

/** @internal Checks HostLedger.open()'s options; `entries` are the resources to define. */
export function checkOpenOptions(options: HostLedgerOptions): {
  namespace: string;
  create: boolean;
  entries: Array<[string, number]>;
  access: CheckedAccess;
} {
  const opts = optionsObject<HostLedgerOptions>('options', options);
  if (options === undefined) throw invalid('options', 'an object', options);
  knownKeys('options', opts, ['namespace', 'resources', 'create', 'mode', 'group', 'trustOwner']);
  const create = opts.create === undefined ? true : booleanValue('options.create', opts.create);
  const access = checkAccessOptions('options', opts);
  const namespace = validateNamespace('options.namespace', opts.namespace);
  const resources = optionsObject<Record<string, number>>('options.resources', opts.resources);
  const entries = Object.entries(resources) as Array<[string, number]>;
  for (const [name, capacity] of entries) {
    validateResourceName(`options.resources key ${JSON.stringify(name)}`, name);
    integerInRange(`options.resources[${JSON.stringify(name)}]`, capacity, 1, MAX_UNITS);
  }
  return { namespace, create, entries, access };
}

/** @internal Checks HostLedger.setResource()'s arguments and applies the defaults. */
export function checkResourceSpec(resource: string, spec: HostResourceSpec): Required<HostResourceSpec> {
  validateResourceName('resource', resource);
  const s = optionsObject<HostResourceSpec>('spec', spec);
  if (spec === undefined) throw invalid('spec', 'an object', spec);
  knownKeys('spec', s, ['capacity', 'external', 'closed']);
  const capacity = integerInRange('spec.capacity', s.capacity, 1, MAX_UNITS);
  const external = s.external === undefined ? 0 : integerInRange('spec.external', s.external, 0, MAX_UNITS);
  const closed = s.closed === undefined ? false : booleanValue('spec.closed', s.closed);
  return { capacity, external, closed };
}

/** @internal HostAcquireOptions with defaults applied. */
export interface CheckedAcquire {
  units: number;
  priority: number;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  label: string;
  /** 0: never. */
  revokeAfterMs: number;
}

/**
 * @internal Checks acquire()'s (full) or tryAcquire()'s options (no timeoutMs, no signal) and
 * applies the defaults.
 */
export function checkAcquireOptions(resource: string, options: HostAcquireOptions | undefined, full: boolean): CheckedAcquire {
  validateResourceName('resource', resource);
  const opts = optionsObject<HostAcquireOptions>('options', options);
  knownKeys('options', opts, full ? ['units', 'priority', 'timeoutMs', 'signal', 'label', 'revokeAfterMs'] : ['units', 'priority', 'label', 'revokeAfterMs']);
  const units = opts.units === undefined ? 1 : integerInRange('options.units', opts.units, 1, MAX_UNITS);
  const priority = opts.priority === undefined ? 0 : integerInRange('options.priority', opts.priority, -MAX_PRIORITY, MAX_PRIORITY);
  const timeoutMs = opts.timeoutMs === undefined ? undefined : integerInRange('options.timeoutMs', opts.timeoutMs, 0, MAX_TIMER_MS);
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('options.signal', 'an AbortSignal', signal);
  const label = opts.label === undefined ? '' : opts.label;
  if (typeof label !== 'string' || !LABEL_RE.test(label)) throw invalid('options.label', 'a label of up to 127 printable ASCII characters', label);
  const revokeAfterMs = opts.revokeAfterMs === undefined ? 0 : integerInRange('options.revokeAfterMs', opts.revokeAfterMs, 1, MAX_TIMER_MS);
  return { units, priority, timeoutMs, signal, label, revokeAfterMs };
}

/** @internal [slot, tokenHi, tokenLo] of a HostGrant.token, or E_INVALID_ARGUMENT. */
export function parseToken(token: unknown): [number, number, number] {
  const m = typeof token === 'string' ? TOKEN_RE.exec(token) : null;
  if (!m) throw invalid('token', 'a grant token (HostGrant.token)', token);
  return [Number(m[1]), parseInt(m[2], 16), parseInt(m[3], 16)];
}

/** @internal The token of a hold: `h<slot>.<tokenHi><tokenLo>` in hex (what parseToken reads). */
export function formatToken(slot: number, hi: number, lo: number): string {
  return `h${slot}.${hex8(hi)}${hex8(lo)}`;
}

/** @internal True when `token` has the form of a HostGrant.token (holds nothing, maybe). */
export function isTokenShaped(token: string): boolean {
  return TOKEN_RE.test(token);
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
