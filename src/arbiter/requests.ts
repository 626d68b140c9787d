// The request path: one acquire() or run() from the caller's arguments to a Lease - place it on
// a GPU, hand it to the backend once, wrap the grant - and the busy policies that decide what a
// miss means. Waiters on a multi-GPU host may move to the GPU that frees first (rebalance).
import type { AcquireRequest, Backend, Grant, ResourceView, SetRequest } from '../backends/contract';
import type { AcquiresInto } from '../backends/local/backend';
import { waitTimeout } from '../backends/wait-errors';
import { GpuArbiterError, isGpuArbiterError } from '../errors';
import type { TaskStats } from '../metrics/counters';
import { estimateWait } from '../observe/eta';
import { classifyFailure } from '../policy/outcome';
import { place, placeSet, type Placement } from '../policy/placement';
import type { TaskPolicy } from '../policy/task-policy';
import { IntrusiveList } from '../util/intrusive-list';
import { invalid, MAX_TIMER_MS, nonEmptyString } from '../util/validate';
import type { DeviceBook } from './devices';
import { Lease, LeaseHolderInfo } from './lease';
import { LeaseRequest, type LeaseRequestHooks } from './lease-request';
import type { LeaseBook } from './lease-book';
import { MovingWait } from './moving-wait';
import { acquireOnPool, type PoolRequestHooks } from './pool-requests';
import { parseAcquireOptions, type AcquireOptions, type ArbiterConfig, type ParsedAcquireOptions } from './options';
import { SetGrant } from './set-grant';
import type { ArbiterState } from './state';
import type { ManagedDevice, QueuePosition, RunOptions, RunResult } from './types';
import { armWatchdog } from './watchdog';

/** Codes on which FALLBACK_CPU runs the caller's fallback instead of failing. */
const FALLBACK_CODES = new Set([
  'E_TIMEOUT',
  'E_QUEUE_FULL',
  'E_DOES_NOT_FIT',
  'E_NO_DEVICE',
  // The ledger (Redis) cannot be reached: no GPU can be had, so the CPU path runs.
  'E_BACKEND_UNAVAILABLE',
]);

/** @internal */
export class Requests {
  /** Waiters that may move between GPUs (multi-GPU only). */
  private readonly waiting = new IntrusiveList<MovingWait<ManagedDevice>>();
  private leaseSeq = 0;
  // The task asked for last, under the config in force then: most callers ask for the same few
  // tasks, and two Map probes per acquire (policy, counters) showed in bench/local-contention.js.
  // A task's counters live as long as the arbiter, so they never go stale; configure() replaces
  // the config object, which invalidates the policy.
  private last: { task: string | null; config: ArbiterConfig | null; policy: TaskPolicy | null; stats: TaskStats | null } = {
    task: null,
    config: null,
    policy: null,
    stats: null,
  };
  private readonly leaseHooks: LeaseRequestHooks = {
    lease: (r, grant, on, waitedMs) => {
      const s = this.s;
      const { policy } = r;
      const lease = new Lease(r.holder, policy.task, on.info, on.env, r.units, r.pid, grant, waitedMs, policy, r.stats, this.book.release);
      s.leases.add(lease);
      if (policy.holdMaxMs !== null) armWatchdog(lease, policy.holdMaxMs, this.book.watchdog);
      return this.granted(lease, r.settlesInLedger && r.waiting);
    },
    failed: (policy, err) => this.failed(policy, err),
  };
  private readonly poolHooks: PoolRequestHooks = {
    nextLeaseSeq: () => ++this.leaseSeq,
    granted: (lease) => this.granted(lease),
    failed: (policy, err) => this.failed(policy, err),
  };

  constructor(
    private readonly s: ArbiterState,
    private readonly devices: DeviceBook,
    private readonly book: LeaseBook,
  ) {
    s.rebalance = () => this.rebalance();
  }

  policy(task: string): TaskPolicy {
    const config = this.s.config;
    if (task === this.last.task && config === this.last.config) return this.last.policy!;
    const p = config.policies.get(task);
    if (p !== undefined) {
      this.last = { task, config, policy: p, stats: this.s.metrics.stats(task) };
      return p;
    }
    nonEmptyString('task', task);
    throw new GpuArbiterError('E_UNKNOWN_TASK', `Unknown task ${JSON.stringify(task)}; configured: ${[...this.s.config.policies.keys()].join(', ')}`, {
      task,
    });
  }

  acquire(task: string, options: AcquireOptions | undefined): Promise<Lease> {
    try {
      // The mapping of errors rides on the same promise step as the grant (one hop, not two).
      return this.acquireFor(this.policy(task), options, true);
    } catch (err) {
      return Promise.reject(this.failed(this.s.config.policies.get(task) ?? null, err));
    }
  }

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
        this.s.metrics.countOutcome(task, 'skipped');
        this.s.events.emit('skipped', { task, reason: code });
        return { status: 'skipped', reason: code };
      }
      if (policy.busyPolicy === 'FALLBACK_CPU' && code !== null && FALLBACK_CODES.has(code)) {
        this.s.metrics.countOutcome(task, 'fell-back');
        this.s.events.emit('fell-back', { task, reason: code });
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
   * Where a waiting request stands: its place in its GPU's queue and an estimated wait from the
   * recent hold times of the holders and waiters ahead. Reads one resource's view where the
   * backend serves it alone (host), so a `waiting` event does not copy the whole ledger.
   */
  position(requestId: string, resource?: string): QueuePosition | null {
    const backend = this.s.backend;
    const views: Iterable<ResourceView> =
      resource !== undefined && backend.resourceView !== undefined
        ? [backend.resourceView(resource)].filter((v): v is ResourceView => v !== null)
        : backend.inspect().resources;
    const now = Date.now();
    for (const r of views) {
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
        (task) => this.s.holdHistory.expected(task),
      );
      const device = this.devices.byResource(r.resource)?.index ?? null;
      return { requestId, task: me.holder.task, resource: r.resource, device, position: me.position, etaMs };
    }
    return null;
  }

  /**
   * Synchronous up to the backend call (no async function: this is the hot path). The returned
   * lease is already counted as acquired; with `mapErrors` failures are counted and mapped too,
   * else they come back raw for run() to apply the busy policy.
   */
  private acquireFor(policy: TaskPolicy, options: AcquireOptions | undefined, mapErrors: boolean): Promise<Lease> {
    const s = this.s;
    if (s.closed) throw new GpuArbiterError('E_CLOSED', 'The arbiter is closed');
    const opts = parseAcquireOptions(options);
    // Per-call values win over the task's policy (and over a learned estimate).
    const units = opts.vramMiB ?? (policy.autoVram ? s.learner.estimate(policy.task, policy.vramMiB) : policy.vramMiB);
    const priority = opts.priority ?? policy.priority;
    if (s.cluster !== null) return acquireOnPool(s, this.book, this.poolHooks, policy, opts, units, priority, mapErrors);
    if (opts.gpus > 1) return this.acquireSetFor(policy, opts, units, priority, mapErrors);
    const dev = this.placeOrThrow(policy, units, priority);
    const maxWait = opts.maxWaitMs ?? policy.maxWaitMs;
    const deadline = policy.busyPolicy === 'REJECT' ? Date.now() : maxWait === null ? undefined : Date.now() + maxWait;
    const holder = new LeaseHolderInfo(++this.leaseSeq, policy.task, opts.pid, opts.label);
    const request: AcquireRequest = {
      resource: dev.resource,
      units,
      priority,
      deadline,
      signal: opts.signal,
      holder,
      queueGroup: policy.task,
      queueLimit: policy.queueLimit ?? undefined,
      onLost: this.book.lost,
      revokeAfterMs: revokeAfter(policy),
    };
    const stats = policy === this.last.policy ? this.last.stats! : s.metrics.stats(policy.task);
    const r = new LeaseRequest(this.leaseHooks, s, policy, holder, units, opts.pid, stats, dev, mapErrors);
    const backend = s.backend as Backend & Partial<AcquiresInto>;
    const movable = this.devices.list.length > 1;
    // One trip to the ledger: granted at once (a Grant), or queued by the same call (a promise).
    let waiting: Promise<Lease>;
    if (!movable && backend.acquireInto !== undefined) {
      // In-process ledger: it makes the lease itself, at once or when the waiter is granted.
      const leaseOrWait = backend.acquireInto(request, r);
      if (!isPromise(leaseOrWait)) return Promise.resolve(leaseOrWait);
      s.waitStarted();
      r.waiting = true;
      r.settlesInLedger = true;
      waiting = leaseOrWait;
    } else {
      let first: Grant | Promise<Grant> | null;
      if (!movable && backend.acquireOrQueue !== undefined) first = backend.acquireOrQueue(request);
      else first = backend.tryAcquire?.(request) ?? null;
      if (first !== null && !isPromise(first)) return Promise.resolve(r.granted(first));
      // Waiting: counted for the idle hook until it settles.
      s.waitStarted();
      r.waiting = true;
      const failed = (err: unknown): never => {
        throw r.failed(err);
      };
      waiting = movable
        ? this.waitMovable(dev, request, opts.signal, r).then(undefined, failed)
        : (first ?? backend.acquire(request)).then((g) => r.granted(g), failed);
    }
    if (s.events.listenerCount('waiting') > 0) {
      // The backend has queued it by now (in-process ledgers queue synchronously).
      const id = holder.leaseId;
      const pos = this.position(id, dev.resource);
      s.events.emit('waiting', pos ?? { requestId: id, task: policy.task, resource: dev.resource, device: dev.index, position: null, etaMs: null });
    }
    return waiting;
  }

  /**
   * A job on `opts.gpus` GPUs at once: placed together (placeSet), asked for in one all-or-nothing
   * backend request, held as one lease whose env names every GPU. Such a waiter does not move
   * between GPUs.
   */
  private acquireSetFor(policy: TaskPolicy, opts: ParsedAcquireOptions, units: number, priority: number, mapErrors: boolean): Promise<Lease> {
    const s = this.s;
    const backend = s.backend;
    if (backend.acquireSet === undefined) throw invalid('options.gpus', `1 (backend ${backend.kind} grants one GPU per request)`, opts.gpus);
    const devs = this.placeSetOrThrow(policy, units, priority, opts.gpus);
    const maxWait = opts.maxWaitMs ?? policy.maxWaitMs;
    const deadline = policy.busyPolicy === 'REJECT' ? Date.now() : maxWait === null ? undefined : Date.now() + maxWait;
    const holder = new LeaseHolderInfo(++this.leaseSeq, policy.task, opts.pid, opts.label);
    const request: SetRequest = {
      resources: devs.map((d) => d.resource),
      units,
      priority,
      deadline,
      signal: opts.signal,
      holder,
      onLost: this.book.lost,
      revokeAfterMs: revokeAfter(policy),
    };
    const env = { CUDA_VISIBLE_DEVICES: devs.map((d) => d.env.CUDA_VISIBLE_DEVICES).join(','), CUDA_DEVICE_ORDER: 'PCI_BUS_ID' as const };
    const stats = s.metrics.stats(policy.task);
    s.waitStarted();
    return backend.acquireSet(request).then(
      (grants) => {
        s.waitEnded();
        const grant = new SetGrant(grants);
        const info = devs.map((d) => d.info);
        const lease = new Lease(holder, policy.task, info[0]!, env, units, opts.pid, grant, grant.waitedMs, policy, stats, this.book.release, info);
        s.leases.add(lease);
        if (policy.holdMaxMs !== null) armWatchdog(lease, policy.holdMaxMs, this.book.watchdog);
        return this.granted(lease);
      },
      (err: unknown) => {
        s.waitEnded();
        throw mapErrors ? this.failed(policy, err) : err;
      },
    );
  }

  /** The GPUs a job on several goes to; throws E_NO_DEVICE / E_DOES_NOT_FIT (and notes the demand). */
  private placeSetOrThrow(policy: TaskPolicy, units: number, priority: number, count: number): ManagedDevice[] {
    const placed = placeSet(units, priority, count, this.devices.candidates(), this.s.config.placement);
    if (placed.kind === 'no-device') return [this.placeOrThrow(policy, units, priority)]; // throws E_NO_DEVICE
    if (placed.kind === 'does-not-fit') {
      this.s.demand.note(policy.task, units, placed.largestCapacityMiB, 'too-small');
      throw new GpuArbiterError(
        'E_DOES_NOT_FIT',
        `${policy.task} needs ${count} GPUs with ${units} MiB each; ${placed.fitting} GPU(s) here could ever hold that much (total * maxFraction)`,
        { task: policy.task, vramMiB: units, gpus: count, fitting: placed.fitting },
      );
    }
    return placed.indices.map((i) => this.devices.byIndex(i)!);
  }

  /** The GPU a request goes to; throws E_NO_DEVICE / E_DOES_NOT_FIT (and notes the demand). */
  private placeOrThrow(policy: TaskPolicy, units: number, priority: number): ManagedDevice {
    const list = this.devices.list;
    const only = list.length === 1 ? list[0]! : null;
    let placed: Placement;
    // One usable GPU: no figures to compare, so none are read (the ledger checks the fit itself).
    if (only?.admission.usable && only.admission.capacityMiB !== null) {
      const cap = only.admission.capacityMiB;
      placed = units > cap ? { kind: 'does-not-fit', largestCapacityMiB: cap } : { kind: 'wait', index: only.index };
    } else {
      placed = place(units, priority, this.devices.candidates(), this.s.config.placement);
    }
    if (placed.kind === 'no-device') {
      const snap = this.s.monitor.snapshot();
      const why = snap.available
        ? 'no usable GPU (lost, unknown memory, or none configured)'
        : `NVML unavailable (${snap.unavailableReason}); options.declaredDevices admits on declared sizes`;
      this.s.demand.note(policy.task, units, null, 'no-device');
      throw new GpuArbiterError('E_NO_DEVICE', `No GPU for ${policy.task}: ${why}`, { task: policy.task });
    }
    if (placed.kind === 'does-not-fit') {
      this.s.demand.note(policy.task, units, placed.largestCapacityMiB, 'too-small');
      throw new GpuArbiterError(
        'E_DOES_NOT_FIT',
        `${policy.task} declares ${units} MiB; the largest GPU budget is ${placed.largestCapacityMiB} MiB (total * maxFraction)`,
        { task: policy.task, vramMiB: units, largestCapacityMiB: placed.largestCapacityMiB },
      );
    }
    return this.devices.byIndex(placed.index) ?? list[0]!;
  }

  /**
   * Waits on `dev` while letting rebalance() move the waiter to a GPU that frees up first, or
   * away from one that is lost. Multi-GPU only: with one GPU there is nowhere to move to.
   */
  private waitMovable(dev: ManagedDevice, request: AcquireRequest, userSignal: AbortSignal | undefined, r: LeaseRequest): Promise<Lease> {
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
      this.s.backend.acquire(w.request).then(
        (grant) => {
          done();
          // A grant can land in the same tick as a move: the grant's resource says where it is.
          const on = this.devices.byResource(grant.resource) ?? w.device;
          const lease = r.grantedOn(grant, on, Date.now() - w.startedAt);
          this.rebalance();
          return lease;
        },
        (err: unknown) => {
          if (!w.moving) {
            done();
            // The backend counts from this attempt; the caller waited since the first one.
            if (isGpuArbiterError(err, 'E_TIMEOUT')) throw waitTimeout(w.request, Date.now() - w.startedAt);
            throw err;
          }
          w.moving = false;
          if (userSignal?.aborted) {
            done();
            throw new GpuArbiterError('E_ABORTED', 'The acquire was aborted', { reason: userSignal.reason }, { cause: userSignal.reason });
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
  rebalance(): void {
    if (this.waiting.size === 0) return;
    const candidates = this.devices.candidates();
    let best: MovingWait<ManagedDevice> | null = null;
    let bestTo: ManagedDevice | null = null;
    for (const w of this.waiting) {
      if (w.moving) continue;
      const p = place(w.request.units, w.request.priority, candidates, this.s.config.placement);
      if (p.kind !== 'now' && p.kind !== 'wait') continue;
      if (p.index === w.device.index) continue;
      const to = this.devices.byIndex(p.index)!;
      // Device entries are rebuilt on every sample: look the waiter's GPU up as it is now.
      const from = this.devices.byIndex(w.device.index);
      if (from === undefined || !from.candidate.usable) w.moveTo(to, to.resource);
      else if (p.kind === 'now' && (best === null || w.request.priority > best.request.priority)) {
        best = w;
        bestTo = to;
      }
    }
    if (best !== null && bestTo !== null) best.moveTo(bestTo, bestTo.resource);
  }

  /**
   * Counts a grant and emits `acquired`. `inRelease`: granted by the in-process ledger inside
   * another holder's release() (LeaseRequest.settlesInLedger); listeners then hear it in a
   * microtask, after that release's own `released`, as they did when a then() made the lease.
   */
  private granted(lease: Lease, inRelease = false): Lease {
    const stats = lease.stats;
    stats.outcomes.acquired++;
    stats.wait.observe(lease.waitedMs / 1000);
    const s = this.s;
    s.idle?.update(true);
    if (!inRelease) s.events.emit('acquired', lease);
    else if (s.events.listenerCount('acquired') > 0) {
      queueMicrotask(() => {
        try {
          s.events.emit('acquired', lease);
        } catch (err) {
          s.warn(err); // the caller has its lease already: a throwing listener is reported
        }
      });
    }
    return lease;
  }

  /** Counts a failed request, emits `timeout`, and returns the error for the caller. */
  private failed(policy: TaskPolicy | null, err: unknown): unknown {
    if (policy === null) return err; // unknown task: nothing to count it under
    const { outcome, error } = classifyFailure(policy, err);
    if (outcome === 'timeout') {
      this.s.events.emit('timeout', { task: policy.task, waitedMs: (err as GpuArbiterError).details.waitedMs ?? null });
    }
    this.s.metrics.countOutcome(policy.task, outcome);
    return error;
  }
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown }).then === 'function';
}

/**
 * The age at which the backend itself may revoke a hold: the holder's own watchdog revokes then
 * too, but cannot while its process is stopped or hung (host: the other processes do it).
 */
function revokeAfter(policy: TaskPolicy): number | undefined {
  return policy.revokeOnHoldMax && policy.holdMaxMs !== null ? Math.min(policy.holdMaxMs + policy.revokeGraceMs, MAX_TIMER_MS) : undefined;
}
