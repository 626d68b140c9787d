// Plain-data views of an arbiter: what `snapshot()` returns and `gpu-arbiter watch` draws, and the
// per-GPU gauges of metrics(). Built on demand from the backend's ledger and the last sample.
import type { ManagedDevice } from './types';
import type { Lease } from './lease';
import type { ArbiterConfig } from './options';
import type { Backend } from '../backends/contract';
import type { ArbiterMetrics, TaskCounters } from '../metrics/counters';
import type { GpuSnapshot } from '../gpu/types';
import type { TaskPolicy } from '../policy/task-policy';
import { SetGrant } from './set-grant';

export interface DeviceView {
  index: number;
  name: string | null;
  uuid: string | null;
  /** False: takes no new grants; `reason` says why (e.g. NVML_ERROR_GPU_IS_LOST). */
  usable: boolean;
  reason: string | null;
  totalMiB: number | null;
  /** NVML's used figure (includes allocator caches). */
  usedMiB: number | null;
  capacityMiB: number | null;
  /** Granted (declared) by holders in the ledger. */
  declaredMiB: number;
  unaccountedMiB: number;
  /** capacity - declared - unaccounted. */
  budgetMiB: number | null;
  /** How unaccounted was found: NVML's process list, used - declared, or 'declared' (no NVML: ledger only). */
  method: 'processes' | 'used-minus-declared' | 'declared' | null;
  utilizationPercent: number | null;
  holders: number;
  waiting: number;
}

export interface HolderSnapshot {
  leaseId: string;
  task: string;
  /** The job's label (AcquireOptions.label), where the backend carries it; null otherwise. */
  label: string | null;
  pid: number;
  device: number | null;
  resource: string;
  vramMiB: number;
  fencingToken: number;
  heldMs: number;
  /** Null for holders of another arbiter or process (shared backends). */
  holdMaxMs: number | null;
  watchdogFired: boolean;
  overuse: boolean;
  /** Held through this arbiter. */
  own: boolean;
}

export interface WaiterSnapshot {
  position: number;
  leaseId: string;
  task: string;
  /** The job's label (AcquireOptions.label), where the backend carries it; null otherwise. */
  label: string | null;
  pid: number;
  priority: number;
  vramMiB: number;
  waitedMs: number;
  /** ms until E_TIMEOUT; null: no deadline. */
  remainingMs: number | null;
  /** Estimated ms until granted (arbiter.position()); null: no hold-time history yet. */
  etaMs?: number | null;
}

export interface QueueSnapshot {
  resource: string;
  device: number | null;
  waiters: WaiterSnapshot[];
}

export interface ArbiterSnapshot {
  takenAt: number;
  /** The GPU view's state: NVML loaded or why not, and which sample admission last used. */
  gpu: { available: boolean; unavailableReason: string | null; seq: number; sampledAt: number };
  backend: string;
  placement: string;
  maxFraction: number;
  tasks: Record<string, TaskPolicy>;
  devices: DeviceView[];
  holders: HolderSnapshot[];
  queues: QueueSnapshot[];
  counters: {
    tasks: Record<string, TaskCounters>;
    leaseLost: number;
    releaseFailures: number;
    ownershipViolations: number;
  };
}

const gpuIndexOf = (resource: string): number | null => {
  const m = /^gpu:(\d+)$/.exec(resource);
  return m === null ? null : Number(m[1]);
};

/** @internal */
export function buildSnapshot(input: {
  gpu: GpuSnapshot;
  config: ArbiterConfig;
  backend: Backend;
  devices: readonly ManagedDevice[];
  leases: Iterable<Lease>;
  metrics: ArbiterMetrics;
  now: number;
}): ArbiterSnapshot {
  const { config, backend, devices, metrics, now } = input;
  const indexOf = new Map(devices.map((d) => [d.resource, d.index]));
  const deviceOf = (resource: string): number | null => indexOf.get(resource) ?? gpuIndexOf(resource);
  const leases = new Map<string, Lease>();
  for (const l of input.leases) leases.set(l.id, l);
  const inspect = backend.inspect();
  const byResource = new Map(inspect.resources.map((r) => [r.resource, r]));
  const deviceViews: DeviceView[] = devices.map((d) => {
    const r = byResource.get(d.resource);
    const a = d.admission;
    const declared = r?.declared ?? 0;
    return {
      index: d.index,
      name: d.info.name,
      uuid: d.info.uuid,
      usable: a.usable && r?.closed !== true,
      reason: a.reason,
      totalMiB: a.totalMiB,
      usedMiB: a.usedMiB,
      capacityMiB: a.capacityMiB,
      declaredMiB: declared,
      unaccountedMiB: a.unaccountedMiB,
      budgetMiB: a.capacityMiB === null ? null : a.capacityMiB - declared - a.unaccountedMiB,
      method: a.method,
      utilizationPercent: d.utilizationPercent,
      holders: r?.holders.length ?? 0,
      waiting: r?.waiters.length ?? 0,
    };
  });
  const holders: HolderSnapshot[] = [];
  const queues: QueueSnapshot[] = [];
  for (const r of inspect.resources) {
    for (const h of r.holders) {
      const rec = leases.get(h.holder.leaseId);
      const own = rec !== undefined && (rec.grant.token === h.token || (rec.grant instanceof SetGrant && rec.grant.holds(h.token)));
      holders.push({
        leaseId: h.holder.leaseId,
        task: h.holder.task,
        label: own ? rec.label : (h.holder.label ?? null),
        pid: h.holder.pid,
        device: deviceOf(r.resource),
        resource: r.resource,
        vramMiB: h.units,
        fencingToken: h.fencingToken,
        heldMs: now - h.grantedAt,
        holdMaxMs: own ? rec.policy.holdMaxMs : null,
        watchdogFired: own ? rec.watchdogFired : false,
        overuse: own ? rec.overuse : false,
        own,
      });
    }
    queues.push({
      resource: r.resource,
      device: deviceOf(r.resource),
      waiters: r.waiters.map((w) => ({
        position: w.position,
        leaseId: w.holder.leaseId,
        task: w.holder.task,
        label: w.holder.label ?? null,
        pid: w.holder.pid,
        priority: w.priority,
        vramMiB: w.units,
        waitedMs: now - w.enqueuedAt,
        remainingMs: w.deadline === null ? null : Math.max(0, w.deadline - now),
      })),
    });
  }
  const taskNames = new Set([...config.policies.keys(), ...metrics.tasks()]);
  return {
    takenAt: now,
    gpu: {
      available: input.gpu.available,
      unavailableReason: input.gpu.unavailableReason,
      seq: input.gpu.seq,
      sampledAt: input.gpu.takenAt,
    },
    backend: backend.kind,
    placement: config.placement,
    maxFraction: config.maxFraction,
    tasks: Object.fromEntries([...config.policies].map(([k, v]) => [k, { ...v }])),
    devices: deviceViews,
    holders,
    queues,
    counters: {
      tasks: Object.fromEntries([...taskNames].map((t) => [t, metrics.taskCounters(t)])),
      leaseLost: metrics.leaseLost,
      releaseFailures: metrics.releaseFailures,
      ownershipViolations: inspect.ownershipViolations,
    },
  };
}
