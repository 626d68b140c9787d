// A GPU view made of numbers you set: for tests, the demo and benchmarks on machines with no GPU.
// It produces the same GpuSnapshot shape as the NVML monitor, so the arbiter cannot tell them
// apart; it is not a model of how a GPU behaves (nothing allocates memory by itself).
import { EventEmitter } from 'node:events';
import type { GpuView } from './view';
import type { GpuDevice, GpuSnapshot } from './types';

const MiB = 1024 * 1024;

/** One simulated device, in MiB and percent. */
export interface SimulatedDeviceSpec {
  totalMiB: number;
  /** VRAM in use; defaults to the sum of `processes`. */
  usedMiB?: number;
  /** Compute processes (pid, MiB). null: per-process data not available (as on MIG). @default [] */
  processes?: Array<{ pid: number; usedMiB: number }> | null;
  /** Kernel-busy percent; null: unknown. @default 0 */
  gpuPercent?: number | null;
  /** An NVML device error, e.g. 'NVML_ERROR_GPU_IS_LOST'. @default null */
  error?: string | null;
  name?: string;
  uuid?: string;
}

/** A {@link GpuView} whose devices you set; call {@link SimulatedGpu.sample} to publish a change. */
export class SimulatedGpu extends EventEmitter implements GpuView {
  private specs: SimulatedDeviceSpec[];
  private current: GpuSnapshot;
  private timer: NodeJS.Timeout | null = null;

  constructor(devices: SimulatedDeviceSpec[]) {
    super();
    this.specs = devices.map((d) => ({ ...d }));
    this.current = this.build(0);
  }

  snapshot(): GpuSnapshot {
    return this.current;
  }

  /** The device specs as last set (copies). */
  devices(): SimulatedDeviceSpec[] {
    return this.specs.map((d) => ({ ...d }));
  }

  /** Changes a device; takes effect at the next {@link sample}. */
  setDevice(index: number, patch: Partial<SimulatedDeviceSpec>): void {
    const d = this.specs[index];
    if (d === undefined) throw new RangeError(`No simulated device ${index}`);
    this.specs[index] = { ...d, ...patch };
  }

  /** Publishes a new snapshot from the current specs and emits 'sample'. */
  sample(): GpuSnapshot {
    this.current = this.build(this.current.seq + 1);
    this.emit('sample', this.current);
    return this.current;
  }

  /** Samples every `intervalMs` (unref'd timer) until {@link stop}. */
  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private build(seq: number): GpuSnapshot {
    return {
      seq,
      takenAt: Date.now(),
      durationMs: 0,
      available: true,
      unavailableReason: null,
      initError: null,
      libraryPath: null,
      driverVersion: 'simulated',
      nvmlVersion: null,
      cudaDriverVersion: null,
      api: {},
      devices: this.specs.map((d, index) => toDevice(d, index)),
    };
  }
}

function toDevice(d: SimulatedDeviceSpec, index: number): GpuDevice {
  const processes = d.processes === undefined ? [] : d.processes;
  const usedMiB = d.usedMiB ?? (processes ?? []).reduce((sum, p) => sum + p.usedMiB, 0);
  const lost = d.error != null;
  return {
    index,
    name: d.name ?? 'Simulated GPU',
    uuid: d.uuid ?? `GPU-00000000-0000-0000-0000-${String(index).padStart(12, '0')}`,
    memory: lost
      ? null
      : {
          totalBytes: d.totalMiB * MiB,
          usedBytes: usedMiB * MiB,
          freeBytes: Math.max(0, d.totalMiB - usedMiB) * MiB,
          reservedBytes: 0,
        },
    utilization: lost || d.gpuPercent === null ? null : { gpuPercent: d.gpuPercent ?? 0, memoryPercent: 0 },
    temperatureC: null,
    powerW: null,
    powerLimitW: null,
    persistenceMode: null,
    migMode: false,
    processes: lost || processes === null ? null : processes.map((p) => ({ pid: p.pid, usedBytes: p.usedMiB * MiB })),
    error: lost ? { code: 'E_NVML', nvmlReturn: d.error!, message: `Device ${index}: ${d.error}` } : null,
    fieldErrors: {},
  };
}
