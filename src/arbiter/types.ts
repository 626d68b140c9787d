// Shapes of the arbiter that other folders need (pipeline, cli, metrics) without importing the
// GpuArbiter class: rule 1 of docs/design.md ("Import rules").
import type { DeviceAdmission } from '../policy/admission';
import type { PlacementCandidate } from '../policy/placement';
import type { LeaseDevice, LeaseEnv } from './lease';
import type { AcquireOptions, CriticalFailure } from './options';
import type { Alert } from '../observe/alerts';

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

/** Result of {@link GpuArbiter.run}. */
export type RunResult<T, F = T> = { status: 'ran'; value: T } | { status: 'skipped'; reason: string } | { status: 'fell-back'; value: F; reason: string };

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

/** @internal What the factory hands the arbiter besides config, backend and monitor. */
export interface ArbiterExtra {
  onCriticalFailure?: (event: CriticalFailure) => void;
  onAlert?: (alert: Alert) => void;
  criticalLog?: string;
  idleMs?: number;
  demandDebounceMs?: number;
  /** scope 'cluster': the labels a node must have; null for node scope. */
  cluster: { labels: Record<string, string> } | null;
}
