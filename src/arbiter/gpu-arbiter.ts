// GpuArbiter: the public face of the arbiter. It holds the public methods and delegates:
//   factory.ts     options -> backend, monitor, node registry
//   requests.ts    acquire()/run(): place, one trip to the backend, busy policies, moving waiters
//   lease-book.ts  release, loss, watchdog, the backend's failure reports
//   devices.ts     monitor samples -> capacity and outside use per GPU in the backend; cool-down
//   snapshot.ts    plain-data views; config-file.ts  fromFile() and reloads
// docs/design.md ("The arbiter") walks one acquire through these files.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Mutex } from 'async-mutex';
import type { ClusterView } from '../backends/cluster';
import { GpuArbiterError } from '../errors';
import type { GpuSnapshot } from '../gpu/types';
import type { MetricFamily } from '../metrics/counters';
import { registerMetrics, type PromRegistryLike } from '../metrics/prom-client';
import { promHandler } from '../metrics/prom-text';
import type { AlertKind } from '../observe/alerts';
import type { CriticalLogStats } from '../observe/critical-log';
import { computeHealth, type Health } from '../observe/health';
import { Pipeline, type PipelineStage } from '../pipeline/pipeline';
import type { TaskVramEstimate } from '../policy/learned-vram';
import type { TaskPolicy } from '../policy/task-policy';
import { integerInRange, invalid, knownKeys, nonEmptyString, optionsObject } from '../util/validate';
import { ConfigSource, readConfigFile, locateConfigError } from './config-file';
import { DeviceBook } from './devices';
import { createArbiter, type ArbiterParts } from './factory';
import type { Lease } from './lease';
import { LeaseBook } from './lease-book';
import { parseConfigure, type AcquireOptions, type GpuArbiterConfigInput, type GpuArbiterOptions } from './options';
import { Requests } from './requests';
import { buildSnapshot, type ArbiterSnapshot } from './snapshot';
import { gpuFamilies } from '../metrics/gpu-families';
import { loadOtelApi } from '../otel/api';
import { instrument, type OtelParts } from '../otel/instrument';
import { type OtelConfig, type OtelOption, parseOtelOption } from '../otel/options';
import { ArbiterState } from './state';
import type { QueuePosition, RunOptions, RunResult } from './types';
import { clearWatchdog } from './watchdog';
import { arbiterSource } from '../dashboard/arbiter-source';
import { createDashboardHandler, type DashboardHandler, type DashboardOptions, parseDashboardOptions } from '../dashboard/handler';

export type { QueuePosition, RunOptions, RunResult } from './types';

/**
 * Admission control for shared GPUs. Events (payloads are plain data unless said otherwise):
 * - `acquired` (lease: Lease), `released` (lease: Lease, heldMs: number, oom: boolean)
 * - `skipped` ({ task, reason }), `fell-back` ({ task, reason }), `timeout` ({ task, waitedMs })
 * - `waiting` (QueuePosition) when a request queues (only computed while someone listens)
 * - `watchdog` ({ lease, heldMs, holdMaxMs, willRevoke }), `lease-lost` ({ lease, reason })
 * - `overuse` ({ lease, device, pid, declaredMiB, usedMiB })
 * - `cooldown` ({ device, resource, until, task }): after release({ oom: true }) the GPU takes no new grants until `until`
 * - `alert` (Alert): release-failed, ownership-violation, lease-lost, watchdog, gpu-lost, overuse
 *   (also given to `options.onAlert` and written to `options.criticalLog`)
 * - `backend-down`, `backend-up`, `renewal-failing`, `critical-failure` (remote backends)
 * - `demand`, `idle`, `config-reloaded`
 * - `warning` (Error): something went wrong off the caller's path (never thrown from a timer).
 */
export class GpuArbiter extends EventEmitter {
  readonly #s: ArbiterState;
  readonly #devices: DeviceBook;
  readonly #book: LeaseBook;
  readonly #requests: Requests;
  readonly #parts: ArbiterParts;
  // Serialises what changes the figures admission uses: applying a sample, configure(), close().
  // Applying a sample may await the backend (a remote ledger updates capacity over the network),
  // and samples arrive on their own schedule: without this, a slow update could finish after a
  // newer one and leave stale capacity behind, or reach the backend after close(). acquire()
  // does not take it: it reads the figures synchronously and the backend decides.
  readonly #mutex = new Mutex();
  #registry: { stop(): Promise<void> } | null = null;
  #configSource: ConfigSource | null = null;
  // options.otel (src/otel/): null when off, so acquire() pays one field read for it.
  #otel: OtelParts | null = null;
  // dashboardHandler()s made by this arbiter, closed by close() (src/dashboard/).
  readonly #dashboards = new Set<DashboardHandler>();

  private constructor(parts: ArbiterParts) {
    super();
    this.#parts = parts;
    const s = new ArbiterState(parts.config, parts.backend, parts.monitor, this, parts.extra);
    this.#s = s;
    this.#devices = new DeviceBook(s);
    this.#book = new LeaseBook(s, this.#devices, parts.extra.onCriticalFailure ?? null);
    this.#requests = new Requests(s, this.#devices, this.#book);
    s.resample = () => this.#onSample(s.monitor.snapshot());
    if (parts.backend.observe !== undefined) {
      s.metrics.backendAvailable = parts.backend.available === false ? 0 : 1;
      parts.backend.observe(this.#book.observer);
    }
  }

  readonly #onSample = (sample: GpuSnapshot): void => {
    this.#mutex
      .runExclusive(async () => {
        if (!this.#s.closed) await this.#devices.reconcile(sample);
      })
      .catch((err: unknown) => this.#s.warn(err));
  };

  /** Applies the current sample, follows the monitor, then registers the node (Redis). */
  async #start(): Promise<this> {
    const s = this.#s;
    await this.#mutex.runExclusive(() => this.#devices.reconcile(s.monitor.snapshot()));
    s.monitor.on('sample', this.#onSample);
    s.checkIdle();
    if (this.#parts.startRegistry !== null) {
      try {
        this.#registry = await this.#parts.startRegistry();
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    return this;
  }

  /**
   * Validates the options, starts the monitor (unless one is given) and returns a ready arbiter.
   * @example
   * const arbiter = await GpuArbiter.create({ policies: { ASR: { priority: 90, vramMiB: 2500 } } });
   */
  static create(options: GpuArbiterOptions & { otel?: OtelOption }): Promise<GpuArbiter> {
    // `otel` is taken off here (src/otel/options.ts validates it) before the arbiter's options are
    // parsed; @opentelemetry/api is loaded now, so a missing package fails before anything starts.
    let otel: OtelConfig | null = null;
    let rest: GpuArbiterOptions = options;
    if (options !== null && typeof options === 'object' && 'otel' in options) {
      const { otel: o, ...others } = options;
      rest = others;
      try {
        otel = parseOtelOption(o);
        if (otel !== null) loadOtelApi();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return createArbiter(rest, (parts) => {
      const arbiter = new GpuArbiter(parts);
      if (otel !== null) arbiter.#otel = instrument(otel, arbiter);
      return arbiter.#start();
    });
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
    options: { profile?: string; watch?: boolean; debounceMs?: number; otel?: OtelOption } & Partial<GpuArbiterOptions> = {},
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
    const source = new ConfigSource(path, profile, fromFile);
    arbiter.#configSource = source;
    if (watch === true) source.watch(() => void arbiter.reloadConfig(), debounceMs ?? 50);
    return arbiter;
  }

  /**
   * Re-reads the config file of {@link fromFile} and applies what may change at run time
   * (holders keep their leases, waiters their place). Resolves true when applied; on a bad file
   * resolves false, keeps the config in force and raises a `config-invalid` alert. Emits
   * `config-reloaded` ({ path, profile, ms, restartNeeded }) on success; `restartNeeded` lists
   * changed keys that only a new arbiter applies.
   */
  reloadConfig(): Promise<boolean> {
    const source = this.#configSource;
    if (source === null) {
      return Promise.reject(new GpuArbiterError('E_INVALID_ARGUMENT', 'reloadConfig() needs an arbiter made by GpuArbiter.fromFile()', { field: 'this' }));
    }
    const s = this.#s;
    return source.reload({
      configure: (input) => this.configure(input as GpuArbiterConfigInput),
      get isClosed() {
        return s.closed;
      },
      alert: (a) => s.alert(a),
      emit: (event, payload) => this.emit(event, payload),
    });
  }

  /** The backend's kind ('local', 'host', ...). */
  get backendKind(): string {
    return this.#s.backend.kind;
  }

  /** The validated task policies in force. */
  policies(): ReadonlyMap<string, TaskPolicy> {
    return this.#s.config.policies;
  }

  /**
   * Reloads policies, devices, maxFraction or placement. Holders keep their leases; waiters keep
   * their place; new requests use the new config. Validation is all-or-nothing.
   */
  async configure(config: GpuArbiterConfigInput): Promise<void> {
    const s = this.#s;
    const next = parseConfigure(config, s.config);
    await this.#mutex.runExclusive(async () => {
      if (s.closed) throw new GpuArbiterError('E_CLOSED', 'The arbiter is closed');
      s.config = next;
      await this.#devices.reconcile(s.monitor.snapshot());
    });
  }

  /**
   * Waits for a share of a GPU under the task's policy. WAIT/SKIP/FALLBACK_CPU wait up to
   * maxWaitMs (then E_TIMEOUT); REJECT fails at once with E_BUSY. Other errors: E_UNKNOWN_TASK,
   * E_QUEUE_FULL, E_DOES_NOT_FIT, E_NO_DEVICE, E_ABORTED, E_CLOSED.
   */
  acquire(task: string, options?: AcquireOptions): Promise<Lease> {
    const tracing = this.#otel?.tracing;
    if (tracing == null) return this.#requests.acquire(task, options);
    return tracing.acquire(task, options, () => this.#requests.acquire(task, options));
  }

  /**
   * Acquires, runs `fn` with the lease, releases. Applies the busy policy: SKIP resolves
   * `{ status: 'skipped' }` on timeout or a full queue; FALLBACK_CPU runs `options.fallback` on
   * those, when no GPU could ever take the task, and while the ledger (Redis) cannot be reached.
   * Errors of `fn` propagate after release.
   */
  run<T, F = T>(task: string, fn: (lease: Lease) => T | Promise<T>, options?: RunOptions<F>): Promise<RunResult<T, F>> {
    const tracing = this.#otel?.tracing;
    if (tracing == null || typeof fn !== 'function') return this.#requests.run(task, fn, options);
    return tracing.run(task, options, fn, (traced) => this.#requests.run<T, F>(task, traced, options));
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
    return this.#requests.position(requestId);
  }

  /** Queues, holders, devices and counters as plain data (what `gpu-arbiter watch` draws). */
  snapshot(): ArbiterSnapshot {
    const s = this.#s;
    const snap = buildSnapshot({
      gpu: s.monitor.snapshot(),
      config: s.config,
      backend: s.backend,
      devices: this.#devices.list,
      leases: s.leases,
      metrics: s.metrics,
      now: Date.now(),
    });
    // Each own waiter's estimated wait (what `watch` shows).
    for (const q of snap.queues) for (const w of q.waiters) w.etaMs = this.#requests.position(w.leaseId)?.etaMs ?? null;
    return snap;
  }

  /** Every metric under the names docs/design.md fixes, as plain data (registerMetrics() exposes them to prom-client). */
  metrics(): MetricFamily[] {
    const s = this.#s;
    const inspect = s.backend.inspect();
    s.metrics.ownershipViolations = inspect.ownershipViolations;
    return [
      ...s.metrics.families(),
      {
        name: 'gpu_arbiter_queue_length',
        help: 'Waiters queued per resource',
        type: 'gauge',
        samples: inspect.resources.map((r) => ({ labels: { resource: r.resource }, value: r.waiters.length })),
      },
      ...gpuFamilies(s.monitor.snapshot(), s.config.devices),
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
   * A node:http request handler serving a live dashboard of this arbiter (src/dashboard/): per GPU
   * the VRAM by holder, outside use, reserved and free, utilisation, temperature, power, the queue
   * with ETAs, charts of the last minutes, alerts and health, pushed to the page with server-sent
   * events. Read-only. `http.createServer(arbiter.dashboardHandler({ token })).listen(9465)`, or
   * route a path prefix ending in '/' to it. `close()` (or closing the arbiter) ends its streams.
   */
  dashboardHandler(options?: DashboardOptions): DashboardHandler {
    const o = parseDashboardOptions(options);
    const monitor = this.#s.monitor;
    const handler = createDashboardHandler(
      arbiterSource(this, () => monitor.snapshot(), o.title),
      o,
    );
    this.#dashboards.add(handler);
    return handler;
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
    const backend = this.#s.backend;
    if (backend.cluster === undefined) {
      return Promise.reject(
        new GpuArbiterError('E_INVALID_ARGUMENT', `cluster() needs backend 'redis' (this arbiter's is '${backend.kind}')`, {
          field: 'options.backend',
        }),
      );
    }
    return backend.cluster();
  }

  /** backend 'redis': this node's id (its GPUs are `<nodeId>/gpu<index>` in Redis); null otherwise. */
  get nodeId(): string | null {
    return this.#s.backend.nodeId ?? null;
  }

  /** Current VRAM estimates per task (vramMiB 'auto' tasks admit on `estimateMiB`). */
  vramEstimates(): TaskVramEstimate[] {
    const defaults = new Map<string, number>();
    for (const p of this.#s.config.policies.values()) defaults.set(p.task, p.vramMiB);
    return this.#s.learner.snapshot(defaults);
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
    const s = this.#s;
    const watchdogFiring: Array<{ leaseId: string; task: string }> = [];
    for (const l of s.leases) if (l.watchdogFired) watchdogFiring.push({ leaseId: l.id, task: l.task });
    return computeHealth({
      closed: s.closed,
      gpus: this.#devices.list.map((d) => ({ index: d.index, usable: d.admission.usable, reason: d.admission.reason })),
      nvml: nvmlFacts(s.monitor.snapshot()),
      backendAvailable: s.backend.available === undefined ? null : s.backend.available,
      hasFallback: s.backend.hasFallback === true,
      backendKind: s.backend.kind,
      lastRenewalFailureAt: this.#book.lastRenewalFailureAt,
      lastReleaseFailureAt: this.#book.lastReleaseFailureAt,
      watchdogFiring,
      criticalLog: s.alerter.logStats(),
      now: Date.now(),
      recentMs,
    });
  }

  /** Alerts raised so far per kind, and the critical log's counters (null without `criticalLog`). */
  alertStats(): { totals: Record<AlertKind, number>; criticalLog: CriticalLogStats | null } {
    return { totals: this.#s.alerter.totals(), criticalLog: this.#s.alerter.logStats() };
  }

  /** Stops listening to the monitor, rejects waiters (E_CLOSED) and aborts holds' `lost`. */
  async close(): Promise<void> {
    await this.#mutex.runExclusive(async () => {
      const s = this.#s;
      if (s.closed) return;
      s.closed = true;
      for (const d of this.#dashboards) await d.close();
      this.#configSource?.stop();
      s.demand.stop();
      s.idle?.stop();
      s.monitor.off('sample', this.#onSample);
      for (const lease of s.leases) clearWatchdog(lease);
      if (this.#registry !== null) await this.#registry.stop();
      if (this.#parts.ownsBackend) await s.backend.close();
      if (this.#parts.stopMonitor !== null) await this.#parts.stopMonitor();
      await s.alerter.flush();
      this.#otel?.close();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Why there may be no GPU to admit on, for health(): NVML's own reason where it is not available. */
function nvmlFacts(snap: { available: boolean; unavailableReason: string | null }): { available: boolean; reason: string | null } {
  return { available: snap.available, reason: snap.unavailableReason };
}
