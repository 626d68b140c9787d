// Memory-aware admission (docs/design.md): per GPU,
//   budget = total * maxFraction - declared(holders) - unaccounted.
// The ledger (backend) knows `declared`; this module turns one NVML device sample into the other
// two terms, which the arbiter hands to the backend as `capacity` and `external`. Admission then
// happens inside the backend's queue, so the priority order and the memory check are one decision.
import type { GpuDevice } from '../gpu/types';

const MiB = 1024 * 1024;

/** A GPU admitted on its declared size where NVML does not report it. */
export interface DeclaredDevice {
  index: number;
  totalMiB: number;
  name?: string;
  /** Used for CUDA_VISIBLE_DEVICES when given. */
  uuid?: string;
}

/** What admission needs of a holder in the ledger: its units and the process that spends them. */
export interface HeldUnits {
  units: number;
  holder: { pid: number };
}

/** A holder process seen using more VRAM than its grants on the device declare. */
export interface Overuse {
  pid: number;
  declaredMiB: number;
  usedMiB: number;
}

/** What admission concludes from one device sample. */
export interface DeviceAdmission {
  /** False: no new grants (device error, or memory unknown). */
  usable: boolean;
  /** Why not usable: NVML's return name (e.g. NVML_ERROR_GPU_IS_LOST) or 'memory unknown'. */
  reason: string | null;
  totalMiB: number | null;
  usedMiB: number | null;
  /** floor(total * maxFraction): the most that can ever be granted. */
  capacityMiB: number | null;
  /** VRAM no grant accounts for (outside processes, unattributed use, holders' overuse). */
  unaccountedMiB: number;
  /**
   * 'processes' when NVML's per-process list was used, 'used-minus-declared' otherwise,
   * 'declared' for a GPU NVML does not report (options.declaredDevices): ledger only.
   */
  method: 'processes' | 'used-minus-declared' | 'declared' | null;
  overuse: Overuse[];
}

/**
 * Splits a device's NVML usage into what our holders account for and what they do not.
 *
 * With per-process data: unaccounted = used - sum over holder pids of min(pid's use, pid's
 * declared). So memory a holder declared but has not allocated yet stays reserved (declared),
 * memory it allocated is not counted twice, and whatever nobody declared (other processes, the
 * driver's unattributed share, a holder's excess) is unaccounted. Without per-process data
 * (MIG, NVML_VALUE_NOT_AVAILABLE) docs/design.md's fallback applies: used - declared.
 */
export function admitDevice(device: GpuDevice, maxFraction: number, holders: readonly HeldUnits[]): DeviceAdmission {
  if (device.error !== null) return unusable(device.error.nvmlReturn, null, null);
  if (device.memory === null) return unusable('memory unknown', null, null);
  const totalMiB = Math.floor(device.memory.totalBytes / MiB);
  const usedMiB = Math.ceil(device.memory.usedBytes / MiB);
  const capacityMiB = Math.floor(totalMiB * maxFraction);

  const declaredByPid = new Map<number, number>();
  let declaredTotal = 0;
  for (const h of holders) {
    declaredByPid.set(h.holder.pid, (declaredByPid.get(h.holder.pid) ?? 0) + h.units);
    declaredTotal += h.units;
  }

  const procs = device.processes;
  if (procs?.every((p) => p.usedBytes !== null)) {
    let covered = 0;
    const overuse: Overuse[] = [];
    for (const p of procs) {
      const declared = declaredByPid.get(p.pid);
      if (declared === undefined) continue;
      const pidMiB = Math.ceil(p.usedBytes! / MiB);
      covered += Math.min(pidMiB, declared);
      if (pidMiB > declared) overuse.push({ pid: p.pid, declaredMiB: declared, usedMiB: pidMiB });
    }
    return {
      usable: true,
      reason: null,
      totalMiB,
      usedMiB,
      capacityMiB,
      unaccountedMiB: Math.max(0, usedMiB - covered),
      method: 'processes',
      overuse,
    };
  }
  return {
    usable: true,
    reason: null,
    totalMiB,
    usedMiB,
    capacityMiB,
    unaccountedMiB: Math.max(0, usedMiB - declaredTotal),
    method: 'used-minus-declared',
    overuse: [],
  };
}

/** A GPU known only from configuration: its declared size, nothing seen outside the ledger. */
export function admitDeclared(totalMiB: number, maxFraction: number): DeviceAdmission {
  return {
    usable: true,
    reason: null,
    totalMiB,
    usedMiB: null,
    capacityMiB: Math.floor(totalMiB * maxFraction),
    unaccountedMiB: 0,
    method: 'declared',
    overuse: [],
  };
}

/** A declared GPU in the shape of a sampled one (memory total only; everything else unknown). */
export function declaredToDevice(d: Readonly<DeclaredDevice>): GpuDevice {
  const totalBytes = d.totalMiB * MiB;
  return {
    index: d.index,
    name: d.name ?? null,
    uuid: d.uuid ?? null,
    memory: { totalBytes, usedBytes: 0, freeBytes: totalBytes, reservedBytes: null },
    utilization: null,
    temperatureC: null,
    powerW: null,
    powerLimitW: null,
    persistenceMode: null,
    migMode: null,
    processes: null,
    error: null,
    fieldErrors: {},
  };
}

function unusable(reason: string, totalMiB: number | null, usedMiB: number | null): DeviceAdmission {
  return { usable: false, reason, totalMiB, usedMiB, capacityMiB: null, unaccountedMiB: 0, method: null, overuse: [] };
}
