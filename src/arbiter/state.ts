// What the parts of one arbiter share: its config, backend, monitor, holders, counters and the
// means to tell (events, alerts). The facade (gpu-arbiter.ts) owns one; devices.ts, requests.ts
// and lease-book.ts each read and change the part that is theirs. Hooks that cross parts
// (`rebalance`, `resample`) are set once by the facade when it wires them together.
import type { EventEmitter } from 'node:events';
import type { Backend, GpuIdentity } from '../backends/contract';
import { gpuResource } from '../backends/resource-names';
import type { GpuView } from '../gpu/view';
import { ArbiterMetrics } from '../metrics/counters';
import { Alerter, type AlertInput } from '../observe/alerts';
import { DemandTracker, IdleTracker } from '../observe/demand-idle';
import { HoldHistory } from '../observe/eta';
import { VramLearner } from '../policy/learned-vram';
import { IntrusiveList } from '../util/intrusive-list';
import type { Lease } from './lease';
import type { ArbiterConfig } from './options';
import type { ArbiterExtra } from './types';

/** @internal */
export class ArbiterState {
  config: ArbiterConfig;
  closed = false;
  readonly metrics = new ArbiterMetrics();
  /** Leases granted through this arbiter and not yet released or lost. */
  readonly leases = new IntrusiveList<Lease>();
  /** Peaks per task for vramMiB 'auto', and OOM floors. */
  readonly learner = new VramLearner();
  readonly holdHistory = new HoldHistory();
  readonly alerter: Alerter;
  readonly demand: DemandTracker;
  readonly idle: IdleTracker | null;
  /** scope 'cluster': the node labels requests select by; null for node scope. */
  readonly cluster: { labels: Record<string, string> } | null;
  /** Requests waiting in the backend (not yet granted or failed). */
  inflight = 0;
  /** Moves waiters to the GPU that can serve them now (requests.ts). */
  rebalance: () => void = () => undefined;
  /** Applies the monitor's current sample now rather than at the next one (gpu-arbiter.ts). */
  resample: () => void = () => undefined;

  constructor(
    config: ArbiterConfig,
    readonly backend: Backend,
    readonly monitor: GpuView,
    /** The arbiter: every event goes out through it. */
    readonly events: EventEmitter,
    extra: ArbiterExtra,
  ) {
    this.config = config;
    this.alerter = new Alerter(
      extra.onAlert ?? null,
      extra.criticalLog ?? null,
      (a) => events.emit('alert', a),
      (err) => this.warn(err),
    );
    this.demand = new DemandTracker(extra.demandDebounceMs ?? 1000, (e) => events.emit('demand', e));
    this.cluster = extra.cluster;
    this.idle = extra.idleMs === undefined ? null : new IdleTracker(extra.idleMs, (e) => events.emit('idle', e));
  }

  /** The backend's name for a GPU (by UUID on a shared host ledger, by node on Redis). */
  resourceOf(gpu: GpuIdentity): string {
    return this.backend.gpuResource?.(gpu) ?? gpuResource(gpu.index);
  }

  /** Something went wrong off the caller's path: reported, never thrown. */
  warn(err: unknown): void {
    this.events.emit('warning', err);
  }

  /** Raises an alert (never throws). */
  alert(input: AlertInput): void {
    this.alerter.raise(input);
  }

  /** A request starts waiting in the backend: counted for the idle hook until waitEnded(). */
  waitStarted(): void {
    this.inflight++;
    this.idle?.update(true);
  }

  /** A request counted by waitStarted() was granted or failed. */
  waitEnded(): void {
    this.inflight--;
    this.checkIdle();
  }

  /** Tells the idle hook whether this arbiter has a holder or a waiter. */
  checkIdle(): void {
    if (this.idle !== null && !this.closed) this.idle.update(this.leases.size > 0 || this.inflight > 0);
  }
}
