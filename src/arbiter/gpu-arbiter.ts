// GpuArbiter: validate -> resolve task policy -> place -> backend.acquire (DESIGN.md "Layers").
// It owns no queue of its own: waiting, order and the memory check happen in the backend, which
// the arbiter feeds with each GPU's capacity and unaccounted use on every monitor sample.
import { EventEmitter } from 'node:events';
import { Mutex } from 'async-mutex';
import { admitDeclared, admitDevice, declaredToDevice, gpuResource, sharedGpuResource, type DeviceAdmission } from '../policy/admission';
import {
  parseAcquireOptions,
  parseConfigure,
  parseCreateOptions,
  type AcquireOptions,
  type ArbiterConfig,
  type GpuArbiterConfigInput,
  type GpuArbiterOptions,
} from './options';
import * as os from 'node:os';
import { HostBackend } from '../backends/host/backend';
import { LocalBackend } from '../backends/local/backend';
import { VramLearner, type TaskVramEstimate } from '../policy/learned-vram';
import { FailoverBackend, defaultHostFallback } from '../backends/failover';
import { RedisBackend } from '../backends/redis/backend';
import type { AcquireRequest, Backend, BackendObserver, Grant, HolderInfo, HolderView, LostReason } from '../backends/contract';
import type { CriticalFailure } from './options';
import type { ClusterView } from '../backends/redis/cluster-view';
import { NodeRegistry } from '../backends/redis/node-registry';
import { GpuArbiterError, isGpuArbiterError } from '../errors';
import type { GpuView } from '../gpu/view';
import { GpuMonitor } from '../gpu/monitor';
import { Lease, LeaseHolder, type LeaseDevice, type LeaseEnv } from './lease';
import { ArbiterMetrics, type MetricFamily } from '../metrics/counters';
import { registerMetrics, type PromRegistryLike } from '../metrics/prom-client';
import type { GpuDevice, GpuSnapshot } from '../gpu/types';
import { place, type PlacementCandidate } from '../policy/placement';
import type { TaskPolicy } from '../policy/task-policy';
import { buildSnapshot, gpuFamilies, type ArbiterSnapshot } from './snapshot';
import { IntrusiveList } from '../util/intrusive-list';
import { classifyFailure } from '../policy/outcome';
import { armWatchdog, clearWatchdog, type WatchdogHooks } from './watchdog';
import { MovingWait } from './moving-wait';
import { integerInRange, invalid, knownKeys, nonEmptyString, optionsObject } from '../util/validate';
import { Alerter, type Alert, type AlertInput, type AlertKind } from '../observe/alerts';
import type { CriticalLogStats } from '../observe/critical-log';
import { computeHealth, type Health } from '../observe/health';
import { promHandler } from '../metrics/prom-text';
import { Pipeline, type PipelineStage } from '../pipeline/pipeline';
import { DemandTracker, IdleTracker } from '../observe/demand-idle';
import { HoldHistory, estimateWait } from '../observe/eta';

/** Result of {@link GpuArbiter.position}; also the payload of the `waiting` event. */
export interface QueuePosition {
  /** The request's lease id (the lease has it once granted). */
  requestId: string;
  task: string;
  resource: string;
  device: number | null;
  /** 0: next in line. */
  position: number;
  /** Estimated ms until granted, from the recent hold times of the holders and waiters ahead; null: no history yet. */
  etaMs: number | null;
}
import { ConfigWatcher, RELOADABLE_KEYS, locateConfigError, readConfigFile, type FileProfile } from './config-file';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** @internal What create() passes to the constructor besides the config. */
interface ArbiterExtra {
  nodeId?: string;
  onCriticalFailure?: (event: CriticalFailure) => void;
  onAlert?: (alert: Alert) => void;
  criticalLog?: string;
  idleMs?: number;
  demandDebounceMs?: number;
}

/** Result of {@link GpuArbiter.run}. */
export type RunResult<T, F = T> =
  { status: 'ran'; value: T } | { status: 'skipped'; reason: string } | { status: 'fell-back'; value: F; reason: string };

/** Options of {@link GpuArbiter.run}. */
export interface RunOptions<F> extends AcquireOptions {
  /** Runs on the CPU when a FALLBACK_CPU task cannot get the GPU in time. */
  fallback?: () => F | Promise<F>;
}

/** @internal One managed GPU as of the last sample. */
export interface ManagedDevice {
  index: number;
  resource: string;
  info: LeaseDevice;
  env: LeaseEnv;
  admission: DeviceAdmission;
  utilizationPercent: number | null;
  present: boolean;
  /** Reused by every placement: acquire() allocates no candidate objects. */
  candidate: PlacementCandidate;
}

/**
 * Admission control for shared GPUs. Events (payloads are plain data unless said otherwise):
 * - `acquired` (lease: Lease), `released` (lease: Lease, heldMs: number, oom: boolean)
 * - `skipped` ({ task, reason }), `fell-back` ({ task, reason }), `timeout` ({ task, waitedMs })
 * - `watchdog` ({ lease, heldMs, holdMaxMs, willRevoke }), `lease-lost` ({ lease, reason })
 * - `overuse` ({ lease, device, pid, declaredMiB, usedMiB })
 * - `cooldown` ({ device, resource, until, task }): after release({ oom: true }) the GPU takes no new grants until `until`
 * - `alert` (Alert): release-failed, ownership-violation, lease-lost, watchdog, gpu-lost, overuse
 *   (also given to `options.onAlert` and written to `options.criticalLog`)
 * - `warning` (Error): something went wrong off the caller's path (never thrown from a timer).
 */
export class GpuArbiter extends EventEmitter {
  private config: ArbiterConfig;
  private readonly metricsStore = new ArbiterMetrics();
  // Serialises what changes the figures admission uses: applying a sample, configure(), close().
  // Applying a sample may await the backend (a remote ledger updates capacity over the network),
  // and samples arrive on their own schedule: without this, a slow update could finish after a
  // newer one and leave stale capacity behind, or reach the backend after close(). That is all
  // it is for. The wait queue is the backend's (backends/local.ts says why it is not
  // async-mutex's Semaphore), and acquire() does not take this mutex: it reads the figures
  // synchronously and the backend decides, so the hot path stays free of it.
  private readonly mutex = new Mutex();
  private devices: ManagedDevice[] = [];
  private readonly leases = new IntrusiveList<Lease>();
  /** Waiters that may move between GPUs (multi-GPU only). */
  private readonly waiting = new IntrusiveList<MovingWait<ManagedDevice>>();
  private leaseSeq = 0;
  private candidateList: PlacementCandidate[] = [];
  /** Peaks per task for vramMiB 'auto', and OOM floors. */
  private readonly learner = new VramLearner();
  /** GPUs in OOM cool-down (resource -> Date.now() when it ends). */
  private readonly coolingUntil = new Map<string, number>();
  private closed = false;
  private readonly onSample = (s: GpuSnapshot): void => {
    this.mutex
      .runExclusive(async () => {
        if (!this.closed) await this.reconcile(s);
      })
      .catch((err: unknown) => this.emit('warning', err));
  };

  /** Resource name of a GPU index in the backend: `gpu:<i>` in-host, `<nodeId>/gpu<i>` on Redis. */
  private readonly resourceOf: (index: number) => string;
  private readonly onCriticalFailure: ((event: CriticalFailure) => void) | null;
  private registry: NodeRegistry | null = null;
  private readonly alerter: Alerter;
  private readonly demand: DemandTracker;
  private readonly idle: IdleTracker | null;
  /** Requests waiting in the backend (not yet granted or failed). */
  private inflight = 0;
  private readonly holdHistory = new HoldHistory();
  private configSource: { path: string; profile: string; loaded: FileProfile } | null = null;
  private configWatcher: ConfigWatcher | null = null;
  private watchdogFired = 0;
  private lastRenewalFailureAt: number | null = null;
  private lastReleaseFailureAt: number | null = null;
  /** GPU indices reported lost (alerted once per loss). */
  private readonly lostGpus = new Set<number>();
  /** -1 until the first sample: violations counted before this arbiter started are not alerted. */
  private ownershipViolationsSeen = -1;

  private constructor(
    config: ArbiterConfig,
    private readonly backend: Backend,
    private readonly ownsBackend: boolean,
    private readonly monitor: GpuView,
    private readonly stopMonitor: (() => Promise<void>) | null,
    extra: ArbiterExtra = {},
  ) {
    super();
    this.config = config;
    const nodeId = extra.nodeId;
    this.resourceOf = nodeId === undefined ? gpuResource : (i) => `${nodeId}/gpu${i}`;
    this.onCriticalFailure = extra.onCriticalFailure ?? null;
    this.alerter = new Alerter(
      extra.onAlert ?? null,
      extra.criticalLog ?? null,
      (a) => this.emit('alert', a),
      (err) => this.emit('warning', err),
    );
    this.demand = new DemandTracker(extra.demandDebounceMs ?? 1000, (e) => this.emit('demand', e));
    this.idle = extra.idleMs === undefined ? null : new IdleTracker(extra.idleMs, (e) => this.emit('idle', e));
    if (backend.observe !== undefined) {
      this.metricsStore.backendAvailable = backend.available === false ? 0 : 1;
      backend.observe(this.observer);
    }
  }

  /** Applies the current sample, then follows the monitor. */
  private async start(): Promise<this> {
    await this.mutex.runExclusive(() => this.reconcile(this.monitor.snapshot()));
    this.monitor.on('sample', this.onSample);
    this.checkIdle();
    return this;
  }

  /**
   * Validates the options, starts the monitor (unless one is given) and returns a ready arbiter.
   * @example
   * const arbiter = await GpuArbiter.create({ policies: { ASR: { priority: 90, vramMiB: 2500 } } });
   */
  static async create(options: GpuArbiterOptions): Promise<GpuArbiter> {
    const { config, options: o } = parseCreateOptions(options);
    if (o.backend !== 'redis') {
      let backend: Backend;
      if (o.backend === 'host') backend = new HostBackend({ namespace: o.namespace ?? 'default' });
      else if (o.backend === undefined || o.backend === 'local') backend = new LocalBackend({ agingMs: o.agingMs });
      else backend = o.backend;
      // A backend made here from a name is the arbiter's: it closes it (also when create fails).
      const owns = o.backend !== backend;
      const extra: ArbiterExtra = {
        onCriticalFailure: o.onCriticalFailure,
        onAlert: o.onAlert,
        criticalLog: o.criticalLog,
        idleMs: o.idleMs,
        demandDebounceMs: o.demandDebounceMs,
      };
      let monitor: GpuView;
      let stop: (() => Promise<void>) | null = null;
      try {
        if (o.monitor !== undefined) monitor = o.monitor;
        else {
          const m = await createDefaultMonitor(o.monitorOptions);
          monitor = m;
          stop = () => m.stop();
        }
      } catch (err) {
        if (owns) await backend.close();
        throw err;
      }
      try {
        return await new GpuArbiter(config, backend, owns, monitor, stop, extra).start();
      } catch (err) {
        if (stop !== null) await stop();
        if (owns) await backend.close();
        throw err;
      }
    }
    return createOnRedis(config, o);
  }

  /**
   * Creates an arbiter from one profile of a JSON config file
   * (`{ "profiles": { "dev": {...}, "test": {...}, "prod": {...} } }`, each profile create()'s
   * options that JSON can say). Other options (monitor, onAlert, a Backend instance...) come in
   * `options` and win over the file. With `watch: true` the file is reloaded on change: policies,
   * devices, maxFraction, placement and declaredDevices apply at once without dropping holders;
   * a bad file keeps the config in force and raises a `config-invalid` alert.
   * @example
   * const arbiter = await GpuArbiter.fromFile('/etc/gpu-arbiter.json', { profile: 'prod', watch: true });
   */
  static async fromFile(
    path: string,
    options: { profile?: string; watch?: boolean; debounceMs?: number } & Partial<GpuArbiterOptions> = {},
  ): Promise<GpuArbiter> {
    const { profile: p, watch, debounceMs, ...rest } = options ?? {};
    const profile = p ?? process.env.GPU_ARBITER_PROFILE ?? process.env.NODE_ENV ?? 'dev';
    if (watch !== undefined && typeof watch !== 'boolean') throw invalid('options.watch', 'a boolean', watch);
    if (debounceMs !== undefined) integerInRange('options.debounceMs', debounceMs, 0, 60_000);
    const fromFile = readConfigFile(path, profile);
    let arbiter: GpuArbiter;
    try {
      arbiter = await GpuArbiter.create({ ...(fromFile as GpuArbiterOptions), ...rest });
    } catch (err) {
      throw locateConfigError(path, profile, err);
    }
    arbiter.configSource = { path, profile, loaded: fromFile };
    if (watch === true) {
      arbiter.configWatcher = new ConfigWatcher(path, () => void arbiter.reloadConfig(), debounceMs ?? 50);
      arbiter.configWatcher.start();
    }
    return arbiter;
  }

  /**
   * Re-reads the config file of {@link fromFile} and applies what may change at run time
   * (holders keep their leases, waiters their place). Resolves true when applied; on a bad file
   * resolves false, keeps the config in force and raises a `config-invalid` alert. Emits
   * `config-reloaded` ({ path, profile, ms, restartNeeded }) on success; `restartNeeded` lists
   * changed keys that only a new arbiter applies.
   */
  async reloadConfig(): Promise<boolean> {
    const src = this.configSource;
    if (src === null) throw new GpuArbiterError('E_INVALID_ARGUMENT', 'reloadConfig() needs an arbiter made by GpuArbiter.fromFile()', { field: 'this' });
    const started = performance.now();
    try {
      const next = readConfigFile(src.path, src.profile);
      const input: Record<string, unknown> = {};
      for (const k of RELOADABLE_KEYS) if (next[k] !== undefined) input[k] = next[k];
      try {
        await this.configure(input as GpuArbiterConfigInput);
      } catch (err) {
        throw locateConfigError(src.path, src.profile, err);
      }
      const restartNeeded = Object.keys({ ...src.loaded, ...next }).filter(
        (k) => !(RELOADABLE_KEYS as readonly string[]).includes(k) && JSON.stringify(src.loaded[k as keyof FileProfile]) !== JSON.stringify(next[k as keyof FileProfile]),
      );
      const ms = performance.now() - started;
      this.emit('config-reloaded', { path: src.path, profile: src.profile, ms, restartNeeded });
      return true;
    } catch (err) {
      if (this.closed) return false;
      this.alert({
        kind: 'config-invalid',
        message: `Config ${src.path} (profile ${src.profile}) not applied; the config in force is kept: ${(err as Error).message}`,
        details: { path: src.path, profile: src.profile, error: (err as Error).message, field: (err as GpuArbiterError).details?.field ?? null },
      });
      return false;
    }
  }

  /** @internal Builds the arbiter once its backend and monitor exist (backend 'redis'). */
  static async assemble(
    config: ArbiterConfig,
    backend: Backend,
    monitor: GpuView,
    stopMonitor: (() => Promise<void>) | null,
    extra: ArbiterExtra & { nodeId: string; registerTtlMs: number | null; redis: GpuArbiterOptions['redis']; namespace: string },
  ): Promise<GpuArbiter> {
    const arbiter = await new GpuArbiter(config, backend, true, monitor, stopMonitor, extra).start();
    if (extra.registerTtlMs !== null) {
      try {
        arbiter.registry = await NodeRegistry.start({
          redis: extra.redis!,
          namespace: extra.namespace,
          nodeId: extra.nodeId,
          monitor,
          ttlMs: extra.registerTtlMs,
        });
      } catch (err) {
        await arbiter.close();
        throw err;
      }
    }
    return arbiter;
  }

  /** The backend's kind ('local', 'host', ...). */
  get backendKind(): string {
    return this.backend.kind;
  }

  /** The validated task policies in force. */
  policies(): ReadonlyMap<string, TaskPolicy> {
    return this.config.policies;
  }

  /**
   * Reloads policies, devices, maxFraction or placement. Holders keep their leases; waiters keep
   * their place; new requests use the new config. Validation is all-or-nothing.
   */
  async configure(config: GpuArbiterConfigInput): Promise<void> {
    const next = parseConfigure(config, this.config);
    await this.mutex.runExclusive(async () => {
      if (this.closed) throw new GpuArbiterError('E_CLOSED', 'The arbiter is closed');
      this.config = next;
      await this.reconcile(this.monitor.snapshot());
    });
  }

  /**
   * Waits for a share of a GPU under the task's policy. WAIT/SKIP/FALLBACK_CPU wait up to
   * maxWaitMs (then E_TIMEOUT); REJECT fails at once with E_BUSY. Other errors: E_UNKNOWN_TASK,
   * E_QUEUE_FULL, E_DOES_NOT_FIT, E_NO_DEVICE, E_ABORTED, E_CLOSED.
   */
  acquire(task: string, options?: AcquireOptions): Promise<Lease> {
    let policy: TaskPolicy;
    let pending: Promise<Lease>;
    try {
      policy = this.policy(task);
      // The mapping of errors rides on the same promise step as the grant (one hop, not two).
      pending = this.acquireFor(policy, options, true);
    } catch (err) {
      return Promise.reject(this.failed(this.config.policies.get(task) ?? null, err));
    }
    return pending;
  }

  /**
   * Acquires, runs `fn` with the lease, releases. Applies the busy policy: SKIP resolves
   * `{ status: 'skipped' }` on timeout or a full queue; FALLBACK_CPU runs `options.fallback` on
   * those, when no GPU could ever take the task, and while the ledger (Redis) cannot be reached.
   * Errors of `fn` propagate after release.
   */
  async run<T, F = T>(task: string, fn: (lease: Lease) => T | Promise<T>, options?: RunOptions<F>): Promise<RunResult<T, F>> {
    const policy = this.policy(task);
    if (typeof fn !== 'function') throw invalid('fn', 'a function', fn);
    const fallback = options?.fallback;
    if (fallback !== undefined && typeof fallback !== 'function') throw invalid('options.fallback', 'a function', fallback);
    if (policy.busyPolicy === 'FALLBACK_CPU' && fallback === undefined) {
      throw invalid(`options.fallback (task ${task} is FALLBACK_CPU)`, 'a function', fallback);
    }
    let lease: Lease;
    try {
      lease = await this.acquireFor(policy, options, false);
    } catch (err) {
      const code = isGpuArbiterError(err) ? err.code : null;
      if (policy.busyPolicy === 'SKIP' && (code === 'E_TIMEOUT' || code === 'E_QUEUE_FULL')) {
        this.metricsStore.countOutcome(task, 'skipped');
        this.emit('skipped', { task, reason: code });
        return { status: 'skipped', reason: code };
      }
      if (
        policy.busyPolicy === 'FALLBACK_CPU' &&
        (code === 'E_TIMEOUT' ||
          code === 'E_QUEUE_FULL' ||
          code === 'E_DOES_NOT_FIT' ||
          code === 'E_NO_DEVICE' ||
          // The ledger (Redis) cannot be reached: no GPU can be had, so the CPU path runs.
          code === 'E_BACKEND_UNAVAILABLE')
      ) {
        this.metricsStore.countOutcome(task, 'fell-back');
        this.emit('fell-back', { task, reason: code });
        return { status: 'fell-back', value: await fallback!(), reason: code };
      }
      throw this.failed(policy, err);
    }
    try {
      return { status: 'ran', value: await fn(lease) };
    } finally {
      await lease.release();
    }
  }

  /**
   * An ordered pipeline of per-session stages (e.g. ASR -> NMT -> TTS), each stage run under its
   * task's policy; items of many sessions run in parallel, and each session's results are
   * delivered in sequence order. See {@link Pipeline}.
   * @example
   * const p = arbiter.pipeline([{ name: 'asr', task: 'ASR', run: asr }, { name: 'tts', task: 'TTS', run: tts }]);
   * const { output } = await p.submit('call-42', audio);
   */
  pipeline<I = unknown, O = unknown>(stages: PipelineStage[]): Pipeline<I, O> {
    return new Pipeline<I, O>(this, stages);
  }

  /**
   * Where a waiting request stands: its place in its GPU's queue and an estimated wait from the
   * recent hold-time distribution (median per task) of the holders and waiters ahead of it.
   * `requestId` is the id the `waiting` event gives (the lease's id once granted). null when the
   * request is not waiting (granted, failed, unknown).
   */
  position(requestId: string): QueuePosition | null {
    nonEmptyString('requestId', requestId);
    const now = Date.now();
    for (const r of this.backend.inspect().resources) {
      const me = r.waiters.find((w) => w.holder.leaseId === requestId);
      if (me === undefined) continue;
      const ahead = r.waiters.filter((w) => w.position < me.position).sort((a, b) => a.position - b.position);
      const etaMs = estimateWait(
        {
          budget: r.capacity - r.external,
          holders: r.holders.map((h) => ({ units: h.units, task: h.holder.task, heldMs: now - h.grantedAt })),
          ahead: ahead.map((w) => ({ units: w.units, task: w.holder.task })),
          me: { units: me.units },
        },
        (task) => this.holdHistory.expected(task),
      );
      const device = this.devices.find((d) => d.resource === r.resource)?.index ?? null;
      return { requestId, task: me.holder.task, resource: r.resource, device, position: me.position, etaMs };
    }
    return null;
  }

  /** Queues, holders, devices and counters as plain data (what `gpu-arbiter watch` draws). */
  snapshot(): ArbiterSnapshot {
    const snap = buildSnapshot({
      gpu: this.monitor.snapshot(),
      config: this.config,
      backend: this.backend,
      devices: this.devices,
      leases: this.leases,
      metrics: this.metricsStore,
      now: Date.now(),
    });
    // Each own waiter's estimated wait (what `watch` shows).
    for (const q of snap.queues) for (const w of q.waiters) w.etaMs = this.position(w.leaseId)?.etaMs ?? null;
    return snap;
  }

  /** Every metric under DESIGN.md's names, as plain data (registerMetrics() exposes them to prom-client). */
  metrics(): MetricFamily[] {
    const inspect = this.backend.inspect();
    this.metricsStore.ownershipViolations = inspect.ownershipViolations;
    return [
      ...this.metricsStore.families(),
      {
        name: 'gpu_arbiter_queue_length',
        help: 'Waiters queued per resource',
        type: 'gauge',
        samples: inspect.resources.map((r) => ({ labels: { resource: r.resource }, value: r.waiters.length })),
      },
      ...gpuFamilies(this.monitor.snapshot(), this.config.devices),
    ];
  }

  /**
   * A node:http request handler serving {@link metrics} in the Prometheus text format (no
   * prom-client): `http.createServer(arbiter.metricsHandler()).listen(9464)`, or call it from
   * your own router for `/metrics`. GET/HEAD only (others: 405).
   */
  metricsHandler(): (req: IncomingMessage, res: ServerResponse) => void {
    return promHandler(() => this.metrics());
  }

  /**
   * Registers every metric in a prom-client registry (prom-client is an optional peer
   * dependency); returns a function that unregisters them. See {@link registerMetrics}.
   */
  registerMetrics(registry?: PromRegistryLike): () => void {
    return registerMetrics(this, registry);
  }

  /**
   * backend 'redis': the live nodes of the namespace (those whose registry heartbeat is current),
   * each GPU with its capacity and use (declared by holders, outside use, holders, waiting), read
   * from Redis. Rejects with E_BACKEND_UNAVAILABLE while Redis cannot be reached, and with
   * E_INVALID_ARGUMENT on a backend that has no cluster.
   */
  cluster(): Promise<ClusterView> {
    const b = (this.backend instanceof FailoverBackend ? this.backend.primary : this.backend) as Partial<RedisBackend>;
    if (typeof b.cluster !== 'function') {
      return Promise.reject(
        new GpuArbiterError('E_INVALID_ARGUMENT', `cluster() needs backend 'redis' (this arbiter's is '${this.backend.kind}')`, {
          field: 'options.backend',
        }),
      );
    }
    return b.cluster.call(b);
  }

  /** backend 'redis': this node's id (its GPUs are `<nodeId>/gpu<index>` in Redis); null otherwise. */
  get nodeId(): string | null {
    const r = this.resourceOf(0);
    return r.endsWith('/gpu0') ? r.slice(0, -'/gpu0'.length) : null;
  }

  /** Stops listening to the monitor, rejects waiters (E_CLOSED) and aborts holds' `lost`. */
  async close(): Promise<void> {
    await this.mutex.runExclusive(async () => {
      if (this.closed) return;
      this.closed = true;
      this.configWatcher?.stop();
      this.demand.stop();
      this.idle?.stop();
      this.monitor.off('sample', this.onSample);
      for (const lease of this.leases) clearWatchdog(lease);
      if (this.registry !== null) await this.registry.stop();
      if (this.ownsBackend) await this.backend.close();
      if (this.stopMonitor !== null) await this.stopMonitor();
      await this.alerter.flush();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals -------------------------------------------------------------------------

  private policy(task: string): TaskPolicy {
    const p = this.config.policies.get(task);
    if (p !== undefined) return p;
    nonEmptyString('task', task);
    throw new GpuArbiterError(
      'E_UNKNOWN_TASK',
      `Unknown task ${JSON.stringify(task)}; configured: ${[...this.config.policies.keys()].join(', ')}`,
      {
        task,
      },
    );
  }

  /**
   * Synchronous up to the backend call (no async function: this is the hot path). The returned
   * lease is already counted as acquired; with `mapErrors` failures are counted and mapped too,
   * else they come back raw for run() to apply the busy policy.
   */
  private acquireFor(policy: TaskPolicy, options: AcquireOptions | undefined, mapErrors: boolean): Promise<Lease> {
    if (this.closed) throw new GpuArbiterError('E_CLOSED', 'The arbiter is closed');
    const opts = parseAcquireOptions(options);
    const units = policy.autoVram ? this.learner.estimate(policy.task, policy.vramMiB) : policy.vramMiB;
    const placed = place(units, policy.priority, this.candidates(), this.config.placement);
    if (placed.kind === 'no-device') {
      const s = this.monitor.snapshot();
      const why = s.available
        ? 'no usable GPU (lost, unknown memory, or none configured)'
        : `NVML unavailable (${s.unavailableReason}); options.declaredDevices admits on declared sizes`;
      this.demand.note(policy.task, units, null, 'no-device');
      throw new GpuArbiterError('E_NO_DEVICE', `No GPU for ${policy.task}: ${why}`, { task: policy.task });
    }
    if (placed.kind === 'does-not-fit') {
      this.demand.note(policy.task, units, placed.largestCapacityMiB, 'too-small');
      throw new GpuArbiterError(
        'E_DOES_NOT_FIT',
        `${policy.task} declares ${units} MiB; the largest GPU budget is ${placed.largestCapacityMiB} MiB (total * maxFraction)`,
        { task: policy.task, vramMiB: units, largestCapacityMiB: placed.largestCapacityMiB },
      );
    }
    let dev = this.devices[0]!;
    for (const d of this.devices) if (d.index === placed.index) dev = d;
    const maxWait = opts.maxWaitMs ?? policy.maxWaitMs;
    const deadline = policy.busyPolicy === 'REJECT' ? Date.now() : maxWait === null ? undefined : Date.now() + maxWait;
    const holder = new LeaseHolder(++this.leaseSeq, policy.task, opts.pid);
    const request: AcquireRequest = {
      resource: dev.resource,
      units,
      priority: policy.priority,
      deadline,
      signal: opts.signal,
      holder,
      queueGroup: policy.task,
      queueLimit: policy.queueLimit ?? undefined,
      onLost: this.lostHook,
    };
    const stats = this.metricsStore.stats(policy.task);
    const toLease = (grant: Grant, on: ManagedDevice, waitedMs: number): Lease => {
      const lease = new Lease(
        holder,
        policy.task,
        on.info,
        on.env,
        units,
        opts.pid,
        grant,
        waitedMs,
        policy,
        stats,
        this.releaseHook,
      );
      this.leases.add(lease);
      if (policy.holdMaxMs !== null) armWatchdog(lease, policy.holdMaxMs, this.watchdogHooks);
      return this.granted(lease);
    };
    const onError = mapErrors
      ? (err: unknown) => {
          throw this.failed(policy, err);
        }
      : undefined;
    // Uncontended: granted synchronously, no promise step beyond the one returned.
    const now = this.backend.tryAcquire?.(request);
    if (now != null) return Promise.resolve(toLease(now, dev, now.waitedMs));
    // Waiting: counted for the idle hook until it settles.
    this.inflight++;
    this.idle?.update(true);
    const settled = (): void => {
      this.inflight--;
      this.checkIdle();
    };
    const grantedAfterWait = (g: Grant, on: ManagedDevice, waitedMs: number): Lease => {
      const lease = toLease(g, on, waitedMs);
      settled();
      return lease;
    };
    const failedAfterWait = (err: unknown): never => {
      settled();
      if (onError !== undefined) onError(err);
      throw err;
    };
    const waiting =
      this.devices.length < 2
        ? this.backend.acquire(request).then((g) => grantedAfterWait(g, dev, g.waitedMs), failedAfterWait)
        : this.waitMovable(dev, request, opts.signal, grantedAfterWait).then(undefined, failedAfterWait);
    if (this.listenerCount('waiting') > 0) {
      // The backend has queued it by now (in-process ledgers queue synchronously).
      const id = holder.leaseId;
      const pos = this.position(id);
      this.emit('waiting', pos ?? { requestId: id, task: policy.task, resource: dev.resource, device: dev.index, position: null, etaMs: null });
    }
    return waiting;
  }

  /**
   * Waits on `dev` while letting rebalance() move the waiter to a GPU that frees up first, or
   * away from one that is lost. Multi-GPU only: with one GPU there is nowhere to move to.
   */
  private waitMovable(
    dev: ManagedDevice,
    request: AcquireRequest,
    userSignal: AbortSignal | undefined,
    toLease: (grant: Grant, on: ManagedDevice, waitedMs: number) => Lease,
  ): Promise<Lease> {
    const w = new MovingWait(dev, request, Date.now(), userSignal);
    w.request = { ...request, signal: w.controller.signal };
    const onUserAbort = (): void => w.controller.abort(userSignal!.reason);
    userSignal?.addEventListener('abort', onUserAbort, { once: true });
    this.waiting.add(w);
    const done = (): void => {
      this.waiting.remove(w);
      userSignal?.removeEventListener('abort', onUserAbort);
    };
    const attempt = (): Promise<Lease> =>
      this.backend.acquire(w.request).then(
        (grant) => {
          done();
          // A grant can land in the same tick as a move: the grant's resource says where it is.
          const on = this.devices.find((d) => d.resource === grant.resource) ?? w.device;
          const lease = toLease(grant, on, Date.now() - w.startedAt);
          this.rebalance();
          return lease;
        },
        (err: unknown) => {
          if (!w.moving) {
            done();
            throw err;
          }
          w.moving = false;
          if (userSignal?.aborted) {
            done();
            throw new GpuArbiterError(
              'E_ABORTED',
              'The acquire was aborted',
              { reason: userSignal.reason },
              { cause: userSignal.reason },
            );
          }
          return attempt();
        },
      );
    return attempt();
  }

  /**
   * Moves waiters between GPUs: every waiter of an unusable GPU to where it could wait instead,
   * and the highest-priority waiter that another GPU could serve at once to that GPU (one per
   * call: the figures are stale until it has been granted, which calls this again).
   */
  private rebalance(): void {
    if (this.waiting.size === 0) return;
    const candidates = this.candidates();
    let best: MovingWait<ManagedDevice> | null = null;
    let bestTo: ManagedDevice | null = null;
    for (const w of this.waiting) {
      if (w.moving) continue;
      const p = place(w.request.units, w.request.priority, candidates, this.config.placement);
      if (p.kind !== 'now' && p.kind !== 'wait') continue;
      if (p.index === w.device.index) continue;
      const to = this.devices.find((d) => d.index === p.index)!;
      // Device entries are rebuilt on every sample: look the waiter's GPU up as it is now.
      const from = this.devices.find((d) => d.index === w.device.index);
      if (from === undefined || !from.candidate.usable) w.moveTo(to, to.resource);
      else if (p.kind === 'now' && (best === null || w.request.priority > best.request.priority)) {
        best = w;
        bestTo = to;
      }
    }
    if (best !== null && bestTo !== null) best.moveTo(bestTo, bestTo.resource);
  }

  private granted(lease: Lease): Lease {
    const stats = lease.stats;
    stats.outcomes.acquired++;
    stats.wait.observe(lease.waitedMs / 1000);
    this.idle?.update(true);
    this.emit('acquired', lease);
    return lease;
  }

  /** Counts a failed request, emits `timeout`, and returns the error for the caller. */
  private failed(policy: TaskPolicy | null, err: unknown): unknown {
    if (policy === null) return err; // unknown task: nothing to count it under
    const { outcome, error } = classifyFailure(policy, err);
    if (outcome === 'timeout') {
      this.emit('timeout', { task: policy.task, waitedMs: (err as GpuArbiterError).details.waitedMs ?? null });
    }
    this.metricsStore.countOutcome(policy.task, outcome);
    return error;
  }

  private readonly releaseHook = (lease: Lease, oom: boolean): Promise<void> | undefined => {
    if (this.leases.remove(lease)) clearWatchdog(lease);
    this.learner.finish(lease, lease.task);
    // Before the release: the freed VRAM must not go to a waiter while the GPU cools down.
    if (oom) this.oomed(lease);
    let pending: Promise<void> | undefined;
    try {
      const r = lease.grant.release();
      // A remote ledger answers with a promise (never on the local hot path: a boolean there).
      if (typeof r === 'object') pending = r.then(() => this.rebalance(), this.releaseFailed);
    } catch (err) {
      this.releaseFailed(err);
    }
    this.rebalance();
    // Date.now(), not performance.now(): the smallest hold bucket is 10 ms, and the grant
    // already carries its Date.now() timestamp.
    const heldMs = Date.now() - lease.acquiredAt;
    lease.stats.hold.observe(heldMs / 1000);
    this.holdHistory.record(lease.task, heldMs);
    // Positional primitives, no payload object: this runs on every release.
    this.emit('released', lease, heldMs, oom);
    if (this.idle !== null) this.checkIdle();
    return pending;
  };

  /** A release the backend could not apply: counted and reported, never thrown at the caller. */
  private readonly releaseFailed = (err: unknown): void => {
    this.metricsStore.releaseFailures++;
    this.lastReleaseFailureAt = Date.now();
    this.emit('warning', err);
  };

  /** Calls onCriticalFailure; never throws (a throwing alert hook is reported as a warning). */
  private critical(event: CriticalFailure): void {
    this.emit('critical-failure', event);
    if (event.kind === 'release-failed') {
      this.alert({
        kind: 'release-failed',
        message: `Release of ${event.resource} (fencing token ${event.fencingToken}) could not reach the ledger: ${event.error.message}`,
        task: event.task,
        resource: event.resource,
        details: { fencingToken: event.fencingToken, error: event.error.message },
      });
    }
    if (this.onCriticalFailure === null) return;
    try {
      this.onCriticalFailure(event);
    } catch (err) {
      this.emit('warning', err);
    }
  }

  private readonly observer: BackendObserver = {
    down: (error) => {
      this.metricsStore.backendAvailable = 0;
      this.emit('backend-down', { error });
    },
    up: () => {
      this.metricsStore.backendAvailable = 1;
      this.emit('backend-up', {});
      // Rewrite capacities and re-read the ledger now rather than at the next sample.
      this.onSample(this.monitor.snapshot());
    },
    renewalFailing: (event) => {
      this.metricsStore.renewalFailures++;
      this.lastRenewalFailureAt = Date.now();
      this.emit('renewal-failing', event);
    },
    criticalFailure: (event) => {
      let task: string | null = null;
      for (const l of this.leases) if (l.grant.fencingToken === event.fencingToken && l.grant.resource === event.resource) task = l.task;
      this.critical({ kind: 'release-failed', resource: event.resource, fencingToken: event.fencingToken, task, reason: null, error: event.error });
    },
  };

  private readonly lostHook = (reason: LostReason, holder: HolderInfo): void => {
    this.metricsStore.leaseLost++;
    let lease: Lease | undefined;
    for (const l of this.leases) if (l.holder === holder || l.id === holder.leaseId) lease = l;
    if (lease === undefined) return;
    this.leases.remove(lease);
    clearWatchdog(lease);
    this.learner.finish(lease, lease.task);
    this.checkIdle();
    this.emit('lease-lost', { lease: lease.toJSON(), reason });
    this.alert({
      kind: 'lease-lost',
      message: `Lease ${lease.id} (${lease.task}) on ${lease.grant.resource} lost: ${reason}`,
      task: lease.task,
      leaseId: lease.id,
      resource: lease.grant.resource,
      device: lease.device.index,
      details: { reason, fencingToken: lease.fencingToken },
    });
    if (reason === 'renewal-failed') {
      // The GPU work may still be running while the ledger gives its VRAM to someone else.
      this.critical({
        kind: 'lease-lost',
        resource: lease.grant.resource,
        fencingToken: lease.fencingToken,
        task: lease.task,
        reason,
        error: new GpuArbiterError('E_LEASE_LOST', `Lease ${lease.id} (${lease.task}) lost: ${reason}`, { reason }),
      });
    }
    this.rebalance();
  };

  private readonly watchdogHooks: WatchdogHooks = {
    exceeded: (lease, holdMaxMs) => {
      this.metricsStore.countWatchdog(lease.task);
      const heldMs = Date.now() - lease.acquiredAt;
      this.watchdogFired++;
      this.emit('watchdog', {
        lease: lease.toJSON(),
        heldMs,
        holdMaxMs,
        willRevoke: lease.policy.revokeOnHoldMax,
      });
      this.alert({
        kind: 'watchdog',
        message: `Lease ${lease.id} (${lease.task}) held ${heldMs} ms, over holdMaxMs ${holdMaxMs}${lease.policy.revokeOnHoldMax ? '; it will be revoked' : ''}`,
        task: lease.task,
        leaseId: lease.id,
        resource: lease.grant.resource,
        device: lease.device.index,
        details: { heldMs, holdMaxMs, willRevoke: lease.policy.revokeOnHoldMax },
      });
    },
    revoke: (lease) => {
      const r = this.backend.revoke(lease.grant.resource, lease.grant.token, 'revoked');
      if (typeof r === 'object') r.catch((err: unknown) => this.emit('warning', err));
    },
  };

  /** Refreshes the per-device candidates in place from the backend's figures. */
  private candidates(): PlacementCandidate[] {
    for (const d of this.devices) {
      const u = this.backend.usage(d.resource);
      const c = d.candidate;
      if (u === null) {
        c.usable = false;
        continue;
      }
      // A GPU cooling down after an OOM is closed in the backend but still takes waiters.
      const cooling = u.closed && this.cooling(d.resource);
      c.usable = d.admission.usable && (!u.closed || cooling);
      c.capacityMiB = u.capacity;
      c.budgetMiB = cooling ? 0 : u.capacity - u.external - u.declared;
      c.waiting = u.waiting;
      c.headPriority = u.headPriority;
    }
    return this.candidateList;
  }

  /**
   * Feeds one sample to the backend: capacity and unaccounted use per GPU, lost GPUs closed.
   * Runs under the mutex only. Awaits the backend only where it returns a promise, so with the
   * local backend a sample is applied in one synchronous pass.
   */
  private async reconcile(s: GpuSnapshot): Promise<void> {
    if (this.backend.refresh !== undefined) {
      try {
        await this.backend.refresh();
      } catch (err) {
        // Unreachable: 'backend-down' said so already; the cached view stays (asOf tells its age).
        if (!isGpuArbiterError(err, 'E_BACKEND_UNAVAILABLE')) throw err;
      }
    }
    const wanted = this.config.devices;
    const holders = new Map<string, HolderView[]>();
    for (const r of this.backend.inspect().resources) holders.set(r.resource, r.holders);
    const seen = new Set<number>();
    const next: ManagedDevice[] = [];
    const visible = s.available ? s.devices : [];
    const listed = new Set(visible.map((g) => g.index));
    const declared = this.config.declaredDevices.filter((d) => !listed.has(d.index));
    for (const gpu of [...visible, ...declared.map(declaredToDevice)]) {
      if (wanted !== null && !wanted.includes(gpu.index)) continue;
      seen.add(gpu.index);
      // A host-wide ledger is shared by processes that may number GPUs differently: name by UUID.
      const resource = this.backend.kind === 'host' ? sharedGpuResource(gpu.index, gpu.uuid) : this.resourceOf(gpu.index);
      const isDeclared = !listed.has(gpu.index);
      const admission = isDeclared
        ? admitDeclared(gpu.memory!.totalBytes / (1024 * 1024), this.config.maxFraction)
        : admitDevice(gpu, this.config.maxFraction, holders.get(resource) ?? []);
      const prev = this.backend.usage(resource);
      // Unusable: keep the last known capacity so queued waiters are not turned into
      // E_DOES_NOT_FIT; `closed` stops new grants until the device is usable again.
      const spec = admission.usable
        ? { capacity: admission.capacityMiB!, external: admission.unaccountedMiB, closed: this.cooling(resource) }
        : { capacity: prev?.capacity ?? 0, external: prev?.external ?? 0, closed: true };
      const pending = this.backend.setResource(resource, spec);
      if (pending !== undefined) await pending;
      const info: LeaseDevice = { index: gpu.index, uuid: gpu.uuid, name: gpu.name };
      const env: LeaseEnv = Object.freeze({
        CUDA_VISIBLE_DEVICES: gpu.uuid ?? String(gpu.index),
        CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      });
      const utilizationPercent = gpu.utilization?.gpuPercent ?? null;
      const candidate: PlacementCandidate = {
        index: gpu.index,
        usable: false,
        capacityMiB: 0,
        budgetMiB: 0,
        waiting: 0,
        headPriority: null,
        utilizationPercent,
      };
      next.push({ index: gpu.index, resource, info, env, admission, utilizationPercent, present: true, candidate });
      this.checkOveruse(resource, gpu.index, admission);
      this.observeUse(resource, gpu);
    }
    // A GPU that vanished from the sample, or that configure() took out of options.devices,
    // takes no new grants; it stays listed while it has holders or waiters.
    // With a ledger shared by other arbiters (host), a GPU this arbiter merely stopped managing
    // is not closed for them: only this arbiter stops placing there.
    const shared = this.backend.kind === 'host';
    for (const d of this.devices) {
      if (seen.has(d.index)) continue;
      const prev = this.backend.usage(d.resource);
      const excluded = wanted !== null && !wanted.includes(d.index);
      if (!(excluded && shared)) {
        const pending = this.backend.setResource(d.resource, {
          capacity: prev?.capacity ?? 0,
          external: prev?.external ?? 0,
          closed: true,
        });
        if (pending !== undefined) await pending;
      }
      let held = (holders.get(d.resource)?.length ?? 0) > 0;
      if (shared) {
        held = false; // other processes' holders do not keep it in this arbiter's list
        for (const l of this.leases) if (l.grant.resource === d.resource) held = true;
      }
      const busy = held || (prev?.waiting ?? 0) > 0;
      if (excluded && !busy) continue;
      next.push({
        ...d,
        admission: { ...d.admission, usable: false, reason: excluded ? 'not in options.devices' : 'not present' },
        present: false,
      });
    }
    this.devices = next.sort((a, b) => a.index - b.index);
    this.candidateList = this.devices.map((d) => d.candidate);
    this.checkLostGpus(wanted);
    this.checkOwnership();
    // Requests waiting while no GPU is usable: nothing here will ever take them.
    if (this.inflight > 0 && !this.devices.some((d) => d.admission.usable)) this.demand.note('*', 0, null, 'no-device', this.inflight);
    this.rebalance();
  }

  /** True while `resource` is in OOM cool-down (forgets cool-downs that ended). */
  private cooling(resource: string): boolean {
    const until = this.coolingUntil.get(resource);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.coolingUntil.delete(resource);
    return false;
  }

  /** lease.release({ oom: true }): raise the task's estimate, and cool the GPU down. */
  private oomed(lease: Lease): void {
    this.learner.oom(lease.task, lease.vramMiB);
    const ms = this.config.oomCooldownMs;
    if (ms === 0) return;
    const resource = lease.grant.resource;
    const until = Date.now() + ms;
    this.coolingUntil.set(resource, until);
    const prev = this.backend.usage(resource);
    if (prev !== null) {
      const r = this.backend.setResource(resource, { capacity: prev.capacity, external: prev.external, closed: true });
      if (r !== undefined) r.catch((err: unknown) => this.emit('warning', err));
    }
    this.emit('cooldown', { device: lease.device.index, resource, until, task: lease.task });
    // Reopen when it ends rather than at the next sample after it.
    setTimeout(() => this.onSample(this.monitor.snapshot()), ms + 1).unref();
  }

  /**
   * Records each lease's peak VRAM for the learner: where NVML lists a process that holds exactly
   * one lease of this arbiter on this GPU, its memory is that lease's.
   */
  private observeUse(resource: string, gpu: GpuDevice): void {
    if (gpu.processes === null || gpu.processes.length === 0) return;
    const byPid = new Map<number, Lease | null>(); // null: the process holds several leases here
    for (const l of this.leases) {
      if (l.grant.resource === resource) byPid.set(l.pid, byPid.has(l.pid) ? null : l);
    }
    if (byPid.size === 0) return;
    for (const p of gpu.processes) {
      const l = byPid.get(p.pid);
      if (l && p.usedBytes !== null) this.learner.observe(l, Math.ceil(p.usedBytes / (1024 * 1024)));
    }
  }

  /** Current VRAM estimates per task (vramMiB 'auto' tasks admit on `estimateMiB`). */
  vramEstimates(): TaskVramEstimate[] {
    const defaults = new Map<string, number>();
    for (const p of this.config.policies.values()) defaults.set(p.task, p.vramMiB);
    return this.learner.snapshot(defaults);
  }

  /** Tells the idle hook whether this arbiter has a holder or a waiter. */
  private checkIdle(): void {
    if (this.idle !== null && !this.closed) this.idle.update(this.leases.size > 0 || this.inflight > 0);
  }

  /** Alerts once when a managed GPU stops being usable (NVML error, gone from the sample). */
  private checkLostGpus(wanted: readonly number[] | null): void {
    for (const d of this.devices) {
      if (d.admission.usable) {
        this.lostGpus.delete(d.index);
        continue;
      }
      if (wanted !== null && !wanted.includes(d.index)) continue; // taken out by configure(), not lost
      if (d.admission.reason === 'not in options.devices' || this.lostGpus.has(d.index)) continue;
      this.lostGpus.add(d.index);
      this.alert({
        kind: 'gpu-lost',
        message: `GPU ${d.index} is not usable: ${d.admission.reason ?? 'unknown'}`,
        resource: d.resource,
        device: d.index,
        details: { reason: d.admission.reason },
      });
    }
  }

  /** Alerts on ownership violations counted by the backend since the last look. */
  private checkOwnership(): void {
    const n = this.backend.inspect().ownershipViolations;
    if (this.ownershipViolationsSeen >= 0 && n > this.ownershipViolationsSeen) {
      this.alert({
        kind: 'ownership-violation',
        message: `${n - this.ownershipViolationsSeen} release(s) or renewal(s) of a lease this holder no longer owned`,
        details: { count: n - this.ownershipViolationsSeen, total: n },
      });
    }
    this.ownershipViolationsSeen = n;
  }

  /**
   * For liveness and readiness probes: `{ status: 'ok'|'degraded'|'down', checks }`. Down: closed,
   * no usable GPU, or the ledger (Redis) unreachable with no fallback. Degraded: some GPU lost,
   * Redis away but the host fallback admitting, a renewal or release failure in the last
   * `recentMs` (default 60 s), a hold past holdMaxMs, or critical-log records lost. Synchronous,
   * no I/O.
   */
  health(options: { recentMs?: number } = {}): Health {
    const o = optionsObject<{ recentMs: number }>('options', options);
    knownKeys('options', o, ['recentMs']);
    const recentMs = o.recentMs === undefined ? 60_000 : integerInRange('options.recentMs', o.recentMs, 0, 86_400_000);
    const watchdogFiring: Array<{ leaseId: string; task: string }> = [];
    for (const l of this.leases) if (l.watchdogFired) watchdogFiring.push({ leaseId: l.id, task: l.task });
    const log = this.alerter.logStats();
    return computeHealth({
      closed: this.closed,
      gpus: this.devices.map((d) => ({ index: d.index, usable: d.admission.usable, reason: d.admission.reason })),
      backendAvailable: this.backend.available === undefined ? null : this.backend.available,
      hasFallback: this.backend instanceof FailoverBackend,
      backendKind: this.backend.kind,
      lastRenewalFailureAt: this.lastRenewalFailureAt,
      lastReleaseFailureAt: this.lastReleaseFailureAt,
      watchdogFiring,
      criticalLog: log,
      now: Date.now(),
      recentMs,
    });
  }

  /** Alerts raised so far per kind, and the critical log's counters (null without `criticalLog`). */
  alertStats(): { totals: Record<AlertKind, number>; criticalLog: CriticalLogStats | null } {
    return { totals: this.alerter.totals(), criticalLog: this.alerter.logStats() };
  }

  /** @internal Raises an alert (never throws). */
  private alert(input: AlertInput): void {
    this.alerter.raise(input);
  }

  private checkOveruse(resource: string, index: number, admission: DeviceAdmission): void {
    for (const lease of this.leases) {
      if (lease.grant.resource !== resource) continue;
      const o = admission.overuse.find((x) => x.pid === lease.pid);
      if (o === undefined) {
        lease.overuse = false;
        continue;
      }
      if (lease.overuse) continue; // report the start of an overuse, not every sample of it
      lease.overuse = true;
      this.emit('overuse', { lease: lease.toJSON(), device: index, pid: o.pid, declaredMiB: o.declaredMiB, usedMiB: o.usedMiB });
      this.alert({
        kind: 'overuse',
        message: `Lease ${lease.id} (${lease.task}) pid ${o.pid} uses ${o.usedMiB} MiB on GPU ${index}, declared ${o.declaredMiB} MiB`,
        task: lease.task,
        leaseId: lease.id,
        resource,
        device: index,
        details: { pid: o.pid, declaredMiB: o.declaredMiB, usedMiB: o.usedMiB },
      });
    }
  }
}

/** backend 'redis': the Redis backend (with its fallback where configured), then the arbiter. */
async function createOnRedis(config: ArbiterConfig, o: Partial<GpuArbiterOptions>): Promise<GpuArbiter> {
  const namespace = o.namespace ?? 'default';
  const reg = typeof o.registerNode === 'object' ? o.registerNode : {};
  const nodeId = o.nodeId ?? reg.nodeId ?? os.hostname();
  // Resolved before connecting: an unavailable fallback is a configuration error, said at once.
  const fallbackFactory = o.onBackendError === 'host' ? (o.fallback ?? defaultHostFallback(namespace)) : null;
  let fallback: Backend | null = null;
  if (fallbackFactory !== null) fallback = await fallbackFactory();
  let backend: Backend;
  try {
    const redis = await RedisBackend.open({
      redis: o.redis!,
      namespace,
      ...(o.leaseTtlMs === undefined ? {} : { leaseTtlMs: o.leaseTtlMs }),
      ...(o.redisOptions ?? {}),
    });
    backend = fallback === null ? redis : new FailoverBackend(redis, fallback);
  } catch (err) {
    await fallback?.close();
    throw err;
  }
  const registerTtlMs = o.registerNode === false ? null : (reg.ttlMs ?? 15_000);
  const extra = {
    nodeId,
    onCriticalFailure: o.onCriticalFailure,
    onAlert: o.onAlert,
    criticalLog: o.criticalLog,
    idleMs: o.idleMs,
    demandDebounceMs: o.demandDebounceMs,
    registerTtlMs,
    redis: o.redis,
    namespace,
  };
  try {
    if (o.monitor !== undefined) return await GpuArbiter.assemble(config, backend, o.monitor, null, extra);
    const monitor = await createDefaultMonitor(o.monitorOptions);
    try {
      return await GpuArbiter.assemble(config, backend, monitor, () => monitor.stop(), extra);
    } catch (err) {
      await monitor.stop();
      throw err;
    }
  } catch (err) {
    await backend.close().catch(() => undefined);
    throw err;
  }
}

/** The NVML monitor; constructing it is what loads the native addon, so a given GpuView never does. */
async function createDefaultMonitor(options: GpuArbiterOptions['monitorOptions']): Promise<GpuMonitor> {
  return GpuMonitor.create(options ?? {});
}
