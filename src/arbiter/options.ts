// Validation of GpuArbiter.create() and configure() options. Everything that can be wrong is
// refused here, before any device or backend is touched, with a message naming the field.
import type { Backend } from '../backends/contract';
import type { FallbackFactory } from '../backends/failover';
import { checkTarget, type RedisTarget } from '../backends/redis/connection';
import { checkLabels } from '../backends/redis/pool-request';
import type { GpuView } from '../gpu/view';
import { PlacementStrategies, type PlacementStrategy } from '../policy/placement';
import { MAX_MIB, MAX_PRIORITY, parsePolicies, type TaskPolicy, type TaskPolicyInput } from '../policy/task-policy';
import { integerInRange, invalid, knownKeys, nonEmptyString, optionsObject, MAX_TIMER_MS } from '../util/validate';
import { GpuArbiterError } from '../errors';
import type { DeclaredDevice } from '../policy/admission';
import { validateNamespace } from '../backends/host/namespaces';
import type { Alert } from '../observe/alerts';

/** Options of {@link GpuArbiter.create}. */
export interface GpuArbiterOptions {
  /**
   * Where holders and waiters are kept: 'local' (this JS isolate), 'host' (every process and
   * worker_thread of the host that uses the same `namespace`: one shared-memory ledger, so two
   * processes cannot both spend the same free MiB), 'redis' (every process on every host sharing
   * one Redis: give `redis`), or a Backend instance (e.g. one LocalBackend shared by several
   * arbiters in one process).
   * @default 'local'
   */
  backend?: 'local' | 'host' | 'redis' | Backend;
  /**
   * backend 'redis': where Redis is - a redis:// URL, ioredis options for one server
   * (`{ host, port, password, db, tls }`), an ioredis Redis or Cluster instance (used as is, never
   * closed by the arbiter), `{ sentinels, name }` or `{ cluster: seeds }`.
   */
  redis?: RedisTarget;
  /**
   * backend 'host': the host ledger to share, `/dev/shm/gpu-arbiter-<namespace>` (`gpu-arbiter
   * status --host-namespace <namespace>` shows it); letters, digits, `_`, `.`, `-`.
   * backend 'redis': keeps separate pools apart on one Redis.
   * Arbiters in the same namespace admit against each other.
   * @default 'default'
   */
  namespace?: string;
  /** backend 'redis': a lease's TTL; renewed every leaseTtlMs / 3 while this process lives. @default 10000 */
  leaseTtlMs?: number;
  /**
   * backend 'redis': this node's id. This process's GPUs are the resources `<nodeId>/gpu<index>`
   * in Redis; every process that sees the same GPUs must use the same id (default: the host name).
   * @default os.hostname()
   */
  nodeId?: string;
  /**
   * backend 'redis': write this node's GPUs (from the monitor) to the node registry with a
   * heartbeat TTL, so `arbiter.cluster()` and `gpu-arbiter status --redis` list it.
   * `{ nodeId?, ttlMs? }`: the node id (same as `options.nodeId`) and the heartbeat TTL
   * (default 15000). @default true
   */
  registerNode?: boolean | { nodeId?: string; ttlMs?: number; labels?: Record<string, string>; address?: string };
  /**
   * backend 'redis': where acquire() looks for a GPU. 'node': this node's GPUs (from the monitor).
   * 'cluster': any live node's GPUs in the namespace (the pool), placed by Redis in one step,
   * queued across nodes when none fits now; the lease says which node (`lease.node`). A
   * cluster-scope arbiter needs no GPU of its own and does not register a node (unless asked).
   * @default 'node'
   */
  scope?: 'node' | 'cluster';
  /** scope 'cluster': only nodes whose labels include all of `labels` (e.g. { zone: 'eu-1' }). */
  nodes?: { labels?: Record<string, string> };
  /**
   * backend 'redis': what acquire() does while Redis cannot be reached. 'fail': reject with
   * E_BACKEND_UNAVAILABLE. 'host': admit on the host backend (`fallback`) until Redis is back.
   * @default 'fail'
   */
  onBackendError?: 'fail' | 'host';
  /**
   * onBackendError 'host': makes the fallback backend (called once at create()). @default the host backend
   */
  fallback?: FallbackFactory;
  /**
   * Called (never awaited; errors swallowed) when something needs a human: a release that could
   * not reach the ledger after its retries, or a lease lost because it could not be renewed.
   */
  onCriticalFailure?: (event: CriticalFailure) => void;
  /**
   * Called (synchronously, never awaited; a throw is reported as a `warning`) for every alert:
   * release failures, ownership violations, lost leases, the watchdog, a lost GPU and overuse.
   * The same alerts are emitted as the `alert` event.
   */
  onAlert?: (alert: Alert) => void;
  /**
   * Appends every alert as one JSON object per line to this file. Writes are asynchronous and
   * never throw: a full disk or a bad path loses records and counts them (`arbiter.health()`).
   */
  criticalLog?: string;
  /**
   * Emit `idle` ({ idleMs }) once this arbiter has had no holder and no waiter for this long
   * (once per idle period). @default off
   */
  idleMs?: number;
  /**
   * `demand` ({ requests, tasks, neededMiB, largestCapacityMiB, reason }) coalesces requests no
   * GPU here could ever take (no usable GPU, or all too small) over this window. @default 1000
   */
  demandDebounceMs?: number;
  /** backend 'redis': further RedisLeases options (timeouts, retries). */
  redisOptions?: { commandTimeoutMs?: number; connectTimeoutMs?: number; waiterTtlMs?: number; releaseRetries?: number };
  /** Task types and their policies, e.g. `{ ASR: { priority: 90, vramMiB: 2500 } }`. */
  policies: Record<string, TaskPolicyInput>;
  /** NVML indices of the GPUs to hand out. @default every GPU the monitor sees */
  devices?: number[];
  /**
   * GPUs to admit against where NVML does not report them (no driver library in a container,
   * NVML unavailable). Admission on such a GPU counts declared VRAM only: nothing outside the
   * ledger is seen, so keep `maxFraction` for what other users may take. A GPU NVML does
   * report uses NVML's figures instead.
   * @example [{ index: 0, totalMiB: 24576 }]
   * @default none
   */
  declaredDevices?: DeclaredDevice[];
  /** Share of each GPU's total VRAM that may be granted, in (0, 1]. @default 0.95 */
  maxFraction?: number;
  /** @default 'binpack' */
  placement?: PlacementStrategy;
  /**
   * After `lease.release({ oom: true })` the lease's GPU takes no new grants for this long, and
   * the task's VRAM estimate is raised (see vramMiB 'auto'). 0: no cool-down. @default 5000
   */
  oomCooldownMs?: number;
  /**
   * Aging for the local backend: a waiter's effective priority rises by 1 per `agingMs` waited,
   * so low-priority work is not starved. @default strict priorities (no aging)
   */
  agingMs?: number;
  /** The GPU view to admit against. @default a GpuMonitor over NVML, started and stopped by the arbiter */
  monitor?: GpuView;
  /** Options for the default monitor. */
  monitorOptions?: { intervalMs?: number; libraryPath?: string };
}

/** Passed to onCriticalFailure. */
export interface CriticalFailure {
  kind: 'release-failed' | 'lease-lost';
  resource: string;
  fencingToken: number;
  /** Task of the lease, where this arbiter knows it. */
  task: string | null;
  /** For 'lease-lost': why (e.g. 'renewal-failed'). */
  reason: string | null;
  error: Error;
}

export type { DeclaredDevice } from '../policy/admission';

/** What configure() may change at run time. */
export type GpuArbiterConfigInput = Partial<
  Pick<GpuArbiterOptions, 'policies' | 'devices' | 'maxFraction' | 'placement' | 'declaredDevices' | 'oomCooldownMs'>
>;

/** Validated configuration. */
export interface ArbiterConfig {
  readonly policies: ReadonlyMap<string, TaskPolicy>;
  readonly devices: readonly number[] | null;
  readonly declaredDevices: readonly Readonly<DeclaredDevice>[];
  readonly maxFraction: number;
  readonly placement: PlacementStrategy;
  readonly oomCooldownMs: number;
}

export const DEFAULT_MAX_FRACTION = 0.95;
export const DEFAULT_OOM_COOLDOWN_MS = 5000;
const CREATE_KEYS = [
  'backend',
  'policies',
  'devices',
  'declaredDevices',
  'maxFraction',
  'placement',
  'oomCooldownMs',
  'monitor',
  'monitorOptions',
  'agingMs',
  'redis',
  'namespace',
  'leaseTtlMs',
  'nodeId',
  'registerNode',
  'scope',
  'nodes',
  'onBackendError',
  'fallback',
  'onCriticalFailure',
  'redisOptions',
  'onAlert',
  'criticalLog',
  'idleMs',
  'demandDebounceMs',
] as const;
const REDIS_ONLY = ['redis', 'leaseTtlMs', 'nodeId', 'registerNode', 'redisOptions', 'scope', 'nodes'] as const;
const CONFIGURE_KEYS = ['policies', 'devices', 'maxFraction', 'placement', 'declaredDevices', 'oomCooldownMs'] as const;
const CONFIGURE_KEYS_SET = new Set<string>(CONFIGURE_KEYS);

/** Checks the Redis-related options: shapes, and that they come with backend 'redis'. */
function parseRedisOptions(o: Partial<GpuArbiterOptions>): void {
  const isRedis = o.backend === 'redis';
  if (!isRedis) {
    for (const k of REDIS_ONLY) {
      if (o[k] !== undefined) throw invalid(`options.${k}`, "nothing unless options.backend is 'redis'", o[k]);
    }
    if (o.onBackendError !== undefined) throw invalid('options.onBackendError', "nothing unless options.backend is 'redis'", o.onBackendError);
    if (o.fallback !== undefined) throw invalid('options.fallback', "nothing unless options.backend is 'redis'", o.fallback);
  } else {
    if (o.redis === undefined)
      throw invalid('options.redis', "a redis:// URL, an ioredis instance, { sentinels, name } or { cluster } (backend 'redis')", o.redis);
    checkTarget('options.redis', o.redis);
    if (o.agingMs !== undefined) throw invalid('options.agingMs', "nothing with backend 'redis' (aging is local-only)", o.agingMs);
  }
  if (o.namespace !== undefined && isRedis) {
    nonEmptyString('options.namespace', o.namespace);
    if (/[{}|]/.test(o.namespace)) throw invalid('options.namespace', 'a name without {, } or |', o.namespace);
  }
  if (o.leaseTtlMs !== undefined) integerInRange('options.leaseTtlMs', o.leaseTtlMs, 100, 86_400_000);
  if (o.nodeId !== undefined) {
    nonEmptyString('options.nodeId', o.nodeId);
    if (/[{}|]/.test(o.nodeId)) throw invalid('options.nodeId', 'a name without {, } or |', o.nodeId);
  }
  const r = o.registerNode;
  if (r !== undefined && typeof r !== 'boolean') {
    const v = optionsObject<{ nodeId: string; ttlMs: number; labels: unknown; address: unknown }>('options.registerNode', r);
    knownKeys('options.registerNode', v, ['nodeId', 'ttlMs', 'labels', 'address']);
    checkLabels('options.registerNode.labels', v.labels);
    if (v.address !== undefined) nonEmptyString('options.registerNode.address', v.address);
    if (v.ttlMs !== undefined) integerInRange('options.registerNode.ttlMs', v.ttlMs, 100, 86_400_000);
    if (v.nodeId !== undefined) {
      nonEmptyString('options.registerNode.nodeId', v.nodeId);
      if (/[{}|]/.test(v.nodeId)) throw invalid('options.registerNode.nodeId', 'a name without {, } or |', v.nodeId);
      if (o.nodeId !== undefined && o.nodeId !== v.nodeId) {
        throw invalid('options.registerNode.nodeId', `options.nodeId (${JSON.stringify(o.nodeId)}) or nothing`, v.nodeId);
      }
    }
  }
  if (o.scope !== undefined && o.scope !== 'node' && o.scope !== 'cluster') throw invalid('options.scope', "'node' or 'cluster'", o.scope);
  if (o.nodes !== undefined) {
    if (o.scope !== 'cluster') throw invalid('options.nodes', "nothing unless options.scope is 'cluster'", o.nodes);
    const n = optionsObject<{ labels: unknown }>('options.nodes', o.nodes);
    knownKeys('options.nodes', n, ['labels']);
    checkLabels('options.nodes.labels', n.labels);
  }
  if (o.scope === 'cluster' && o.onBackendError === 'host') {
    throw invalid('options.onBackendError', "'fail' with scope 'cluster' (a host ledger cannot stand in for other nodes' GPUs)", o.onBackendError);
  }
  if (o.onBackendError !== undefined && o.onBackendError !== 'fail' && o.onBackendError !== 'host') {
    throw invalid('options.onBackendError', "'fail' or 'host'", o.onBackendError);
  }
  if (o.fallback !== undefined) {
    if (typeof o.fallback !== 'function') throw invalid('options.fallback', 'a function returning a Backend', o.fallback);
    if (o.onBackendError !== 'host') throw invalid('options.fallback', "nothing unless options.onBackendError is 'host'", o.fallback);
  }
  if (o.onCriticalFailure !== undefined && typeof o.onCriticalFailure !== 'function') {
    throw invalid('options.onCriticalFailure', 'a function', o.onCriticalFailure);
  }
  if (o.redisOptions !== undefined) {
    const ro = optionsObject<NonNullable<GpuArbiterOptions['redisOptions']>>('options.redisOptions', o.redisOptions);
    knownKeys('options.redisOptions', ro, ['commandTimeoutMs', 'connectTimeoutMs', 'waiterTtlMs', 'releaseRetries']);
    if (ro.commandTimeoutMs !== undefined) integerInRange('options.redisOptions.commandTimeoutMs', ro.commandTimeoutMs, 10, 600_000);
    if (ro.connectTimeoutMs !== undefined) integerInRange('options.redisOptions.connectTimeoutMs', ro.connectTimeoutMs, 1, 600_000);
    if (ro.waiterTtlMs !== undefined) integerInRange('options.redisOptions.waiterTtlMs', ro.waiterTtlMs, 100, 86_400_000);
    if (ro.releaseRetries !== undefined) integerInRange('options.redisOptions.releaseRetries', ro.releaseRetries, 0, 100);
  }
}

/** Validates create() options (all of them, including backend and monitor shapes). */
export function parseCreateOptions(value: unknown): { config: ArbiterConfig; options: Partial<GpuArbiterOptions> } {
  const o = optionsObject<GpuArbiterOptions>('options', value);
  if (value === undefined) throw invalid('options', 'an object with policies', value);
  knownKeys('options', o, CREATE_KEYS);
  const b = o.backend;
  if (b !== undefined && b !== 'local' && b !== 'host' && b !== 'redis' && !isBackend(b)) {
    throw invalid('options.backend', "'local', 'host', 'redis' or a Backend instance", b);
  }
  parseRedisOptions(o);
  if (o.agingMs !== undefined) {
    integerInRange('options.agingMs', o.agingMs, 1, MAX_TIMER_MS);
    if (isBackend(b)) throw invalid('options.agingMs', 'nothing when options.backend is an instance (give it to that backend)', o.agingMs);
    if (b === 'host') throw invalid('options.agingMs', "nothing with backend 'host' (the host ledger keeps strict priorities)", o.agingMs);
  }
  if (o.namespace !== undefined && b !== 'redis') {
    if (b !== 'host') throw invalid('options.namespace', "nothing unless options.backend is 'host' or 'redis'", o.namespace);
    validateNamespace('options.namespace', o.namespace);
  }
  if (o.onAlert !== undefined && typeof o.onAlert !== 'function') throw invalid('options.onAlert', 'a function', o.onAlert);
  if (o.criticalLog !== undefined) nonEmptyString('options.criticalLog', o.criticalLog);
  if (o.idleMs !== undefined) integerInRange('options.idleMs', o.idleMs, 1, MAX_TIMER_MS);
  if (o.demandDebounceMs !== undefined) integerInRange('options.demandDebounceMs', o.demandDebounceMs, 0, MAX_TIMER_MS);
  if (o.monitor !== undefined && !isGpuView(o.monitor)) {
    throw invalid('options.monitor', 'an object with snapshot(), on() and off()', o.monitor);
  }
  if (o.monitorOptions !== undefined) {
    const m = optionsObject<{ intervalMs: number; libraryPath: string }>('options.monitorOptions', o.monitorOptions);
    knownKeys('options.monitorOptions', m, ['intervalMs', 'libraryPath']);
  }
  return { config: parseConfig(o, null, 'options'), options: o };
}

/** Validates configure() input against the current config; absent fields keep their value. */
export function parseConfigure(value: unknown, current: ArbiterConfig): ArbiterConfig {
  const o = optionsObject<GpuArbiterConfigInput>('config', value);
  for (const key of ['backend', 'monitor', 'monitorOptions', 'agingMs', ...CREATE_KEYS.filter((k) => !CONFIGURE_KEYS_SET.has(k))]) {
    if (key in o) {
      throw new GpuArbiterError('E_INVALID_ARGUMENT', `config.${key} cannot change at run time; create a new arbiter`, {
        field: `config.${key}`,
      });
    }
  }
  knownKeys('config', o, CONFIGURE_KEYS);
  return parseConfig(o, current, 'config');
}

function parseConfig(o: Partial<GpuArbiterOptions>, current: ArbiterConfig | null, field: string): ArbiterConfig {
  const policies = o.policies === undefined && current !== null ? current.policies : parsePolicies(o.policies, `${field}.policies`);
  let devices = current?.devices ?? null;
  if (o.devices !== undefined) {
    if (!Array.isArray(o.devices) || o.devices.length === 0) throw invalid(`${field}.devices`, 'a non-empty array of GPU indices', o.devices);
    devices = o.devices.map((d, i) => integerInRange(`${field}.devices[${i}]`, d, 0, 1023));
    if (new Set(devices).size !== devices.length) throw invalid(`${field}.devices`, 'GPU indices without repeats', o.devices);
  }
  let maxFraction = current?.maxFraction ?? DEFAULT_MAX_FRACTION;
  if (o.maxFraction !== undefined) {
    const f = o.maxFraction;
    if (typeof f !== 'number' || !(f > 0 && f <= 1)) throw invalid(`${field}.maxFraction`, 'a number in (0, 1]', f);
    maxFraction = f;
  }
  let placement = current?.placement ?? 'binpack';
  if (o.placement !== undefined) {
    if (!PlacementStrategies.includes(o.placement)) throw invalid(`${field}.placement`, `one of ${PlacementStrategies.join(', ')}`, o.placement);
    placement = o.placement;
  }
  let declaredDevices = current?.declaredDevices ?? [];
  if (o.declaredDevices !== undefined) declaredDevices = parseDeclared(o.declaredDevices, `${field}.declaredDevices`);
  const oomCooldownMs =
    o.oomCooldownMs === undefined
      ? (current?.oomCooldownMs ?? DEFAULT_OOM_COOLDOWN_MS)
      : integerInRange(`${field}.oomCooldownMs`, o.oomCooldownMs, 0, 3_600_000);
  return Object.freeze({ policies, devices, maxFraction, placement, declaredDevices, oomCooldownMs });
}

function parseDeclared(value: unknown, field: string): Readonly<DeclaredDevice>[] {
  if (!Array.isArray(value)) throw invalid(field, 'an array of { index, totalMiB }', value);
  const out = value.map((v, i) => {
    const f = `${field}[${i}]`;
    const d = optionsObject<DeclaredDevice>(f, v);
    if (v === undefined) throw invalid(f, 'an object', v);
    knownKeys(f, d, ['index', 'totalMiB', 'name', 'uuid']);
    return Object.freeze({
      index: integerInRange(`${f}.index`, d.index, 0, 1023),
      totalMiB: integerInRange(`${f}.totalMiB`, d.totalMiB, 1, MAX_TIMER_MS),
      ...(d.name === undefined ? {} : { name: nonEmptyString(`${f}.name`, d.name) }),
      ...(d.uuid === undefined ? {} : { uuid: nonEmptyString(`${f}.uuid`, d.uuid) }),
    });
  });
  if (new Set(out.map((d) => d.index)).size !== out.length) throw invalid(field, 'GPU indices without repeats', value);
  return out;
}

/** Options of {@link GpuArbiter.acquire} and {@link GpuArbiter.run}. */
/** Who a job is, shown with its hold: in snapshot(), `watch`, alerts and the critical log. */
export interface JobLabel {
  job?: string;
  session?: string;
  stage?: string;
}

/**
 * Per-call options of acquire() and run(). Each overrides the task's policy for this request only.
 * @example
 * await arbiter.acquire('OCR', { vramMiB: 9000, priority: 70, label: { job: 'video-42', stage: 'ocr' } });
 */
export interface AcquireOptions {
  /** Abort the wait (E_ABORTED). Does not touch a lease already granted. */
  signal?: AbortSignal;
  /** Overrides the task's maxWaitMs for this call. */
  maxWaitMs?: number;
  /** Process that will use the VRAM (for overuse checks). @default process.pid */
  pid?: number;
  /**
   * VRAM this job needs, in MiB: overrides the task's vramMiB (and, for vramMiB 'auto' tasks,
   * the learned estimate). A size no GPU could ever hold fails at once with E_DOES_NOT_FIT.
   */
  vramMiB?: number;
  /** Overrides the task's priority (0-1000, higher first). */
  priority?: number;
  /** What the job is: free text (up to 128 printable characters) or `{ job, session, stage }`. */
  label?: string | JobLabel;
  /**
   * GPUs the job needs at once, `vramMiB` on each (tensor parallel, a pipeline split over
   * cards): all granted together or none, never one held while it waits for another (1 to 16).
   * `lease.devices` lists them and CUDA_VISIBLE_DEVICES names them all. Every backend; with
   * scope 'cluster', N GPUs of one node.
   * @default 1
   */
  gpus?: number;
}

export interface ParsedAcquireOptions {
  signal: AbortSignal | undefined;
  maxWaitMs: number | undefined;
  pid: number;
  vramMiB: number | undefined;
  priority: number | undefined;
  /** The label as one line of text (`job=.. session=.. stage=..` for an object). */
  label: string | undefined;
  gpus: number;
}

/** The most GPUs one request takes together (the host ledger's limit, native/host/ledger_layout.h). */
export const MAX_GPUS = 16;
const ACQUIRE_KEYS = ['signal', 'maxWaitMs', 'pid', 'vramMiB', 'priority', 'label', 'gpus', 'fallback'] as const;
const DEFAULT_ACQUIRE: ParsedAcquireOptions = Object.freeze({
  signal: undefined,
  maxWaitMs: undefined,
  pid: process.pid,
  vramMiB: undefined,
  priority: undefined,
  label: undefined,
  gpus: 1,
});
const LABEL_MAX = 128;
const LABEL_TEXT = /^[\x20-\x7e]+$/;
const LABEL_KEYS = ['job', 'session', 'stage'] as const;

export function parseAcquireOptions(value: unknown): ParsedAcquireOptions {
  if (value === undefined) return DEFAULT_ACQUIRE;
  const o = optionsObject<AcquireOptions & { fallback: unknown }>('options', value);
  knownKeys('options', o, ACQUIRE_KEYS);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalid('options.signal', 'an AbortSignal', o.signal);
  return {
    signal: o.signal,
    maxWaitMs: o.maxWaitMs === undefined ? undefined : integerInRange('options.maxWaitMs', o.maxWaitMs, 0, MAX_TIMER_MS),
    pid: o.pid === undefined ? process.pid : integerInRange('options.pid', o.pid, 1, MAX_TIMER_MS),
    vramMiB: o.vramMiB === undefined ? undefined : integerInRange('options.vramMiB', o.vramMiB, 1, MAX_MIB),
    priority: o.priority === undefined ? undefined : integerInRange('options.priority', o.priority, 0, MAX_PRIORITY),
    label: o.label === undefined ? undefined : parseLabel(o.label),
    gpus: o.gpus === undefined ? 1 : integerInRange('options.gpus', o.gpus, 1, MAX_GPUS),
  };
}

/** A label as one line of printable text; an object becomes `job=.. session=.. stage=..`. */
function parseLabel(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    const o = optionsObject<JobLabel>('options.label', value);
    knownKeys('options.label', o, LABEL_KEYS);
    const parts: string[] = [];
    for (const k of LABEL_KEYS) {
      const v = o[k];
      if (v === undefined) continue;
      if (typeof v !== 'string' || v.length === 0 || /\s/.test(v)) throw invalid(`options.label.${k}`, 'a non-empty string without spaces', v);
      parts.push(`${k}=${v}`);
    }
    if (parts.length === 0) throw invalid('options.label', 'a string or an object with job, session or stage', value);
    text = parts.join(' ');
  }
  if (text.length === 0 || text.length > LABEL_MAX || !LABEL_TEXT.test(text)) {
    throw invalid('options.label', `1 to ${LABEL_MAX} printable ASCII characters`, value);
  }
  return text;
}

function isBackend(b: unknown): b is Backend {
  const x = b as Partial<Backend> | null;
  return typeof x === 'object' && x !== null && typeof x.acquire === 'function' && typeof x.setResource === 'function' && typeof x.usage === 'function';
}

function isGpuView(v: unknown): v is GpuView {
  const x = v as Partial<GpuView> | null;
  return typeof x === 'object' && x !== null && typeof x.snapshot === 'function' && typeof x.on === 'function' && typeof x.off === 'function';
}
