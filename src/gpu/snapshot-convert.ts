// Raw addon samples -> the public, frozen GpuSnapshot shape.
import type { GpuDevice, GpuSnapshot } from './types';
import type { RawDeviceSample, RawSnapshot } from '../native/addon';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

function toDevice(raw: RawDeviceSample & { errorCall?: string }): GpuDevice {
  return {
    index: raw.index,
    name: raw.name,
    uuid: raw.uuid,
    memory: raw.memory && {
      totalBytes: raw.memory.total,
      usedBytes: raw.memory.used,
      freeBytes: raw.memory.free,
      reservedBytes: raw.memory.reserved,
    },
    utilization: raw.utilization && { gpuPercent: raw.utilization.gpu, memoryPercent: raw.utilization.memory },
    temperatureC: raw.temperatureC,
    powerW: raw.powerW,
    powerLimitW: raw.powerLimitW,
    persistenceMode: raw.persistenceMode,
    migMode: raw.migMode,
    processes: raw.processes,
    error: raw.error
      ? {
          code: 'E_NVML',
          nvmlReturn: raw.error,
          message: `GPU ${raw.index}: ${raw.errorCall ?? 'NVML'} returned ${raw.error}`,
        }
      : null,
    fieldErrors: raw.errors,
  };
}

export function toSnapshot(raw: RawSnapshot): GpuSnapshot {
  let reason = raw.reason;
  if (raw.available && raw.countError) reason = null;
  return deepFreeze({
    seq: raw.seq,
    takenAt: raw.takenAtMs,
    durationMs: raw.durationUs / 1000,
    available: raw.available && !raw.countError,
    unavailableReason: raw.available && raw.countError ? `nvmlDeviceGetCount failed: ${raw.countError}` : reason,
    initError: raw.initError ?? raw.countError ?? null,
    libraryPath: raw.libraryPath,
    driverVersion: raw.driverVersion,
    nvmlVersion: raw.nvmlVersion,
    cudaDriverVersion: raw.cudaDriverVersion,
    api: raw.api,
    devices: raw.devices.map(toDevice),
  });
}

/** The snapshot reported before the first sample or without a sampler. */
export function stoppedSnapshot(reason: string): GpuSnapshot {
  return deepFreeze({
    seq: 0,
    takenAt: 0,
    durationMs: 0,
    available: false,
    unavailableReason: reason,
    initError: null,
    libraryPath: null,
    driverVersion: null,
    nvmlVersion: null,
    cudaDriverVersion: null,
    api: {},
    devices: [],
  });
}
