// Public shapes of what the GPU monitor reports. Unknown values are `null` (never 0): NVML
// reports NOT_SUPPORTED for utilisation and processes on MIG GPUs and for memory on some
// integrated GPUs, and a 0 there would read as "idle" or "empty".

/** One compute process seen on a GPU. */
export interface GpuProcess {
  pid: number;
  /** VRAM used by the process; null where NVML cannot say (NVML_VALUE_NOT_AVAILABLE). */
  usedBytes: number | null;
}

/**
 * Memory as NVML reports it. `used` includes allocator caches (PyTorch keeps freed blocks).
 * Same meaning on every driver: nvmlDeviceGetMemoryInfo (v1) counts driver-reserved memory in
 * `used`, nvmlDeviceGetMemoryInfo_v2 reports it apart, so with v2 `usedBytes` is its used +
 * reserved. Admission budgets on this figure: reserved memory is not free for any process.
 */
export interface GpuMemory {
  totalBytes: number;
  /** Not free: allocated plus driver-reserved (totalBytes = usedBytes + freeBytes). */
  usedBytes: number;
  freeBytes: number;
  /** The driver-reserved part of usedBytes (nvmlDeviceGetMemoryInfo_v2 only); null with the v1 call. */
  reservedBytes: number | null;
}

/** Utilisation over NVML's last sample period, in percent (0-100). */
export interface GpuUtilization {
  /** Percent of time a kernel was running. */
  gpuPercent: number;
  /** Percent of time device memory was read or written (bus activity, NOT fullness). */
  memoryPercent: number;
}

/** A device-wide error: the device is unusable for new work while it lasts. */
export interface DeviceError {
  code: 'E_NVML';
  /** NVML's return name, e.g. NVML_ERROR_GPU_IS_LOST. */
  nvmlReturn: string;
  message: string;
}

export interface GpuDevice {
  index: number;
  name: string | null;
  uuid: string | null;
  memory: GpuMemory | null;
  utilization: GpuUtilization | null;
  temperatureC: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  persistenceMode: boolean | null;
  migMode: boolean | null;
  processes: GpuProcess[] | null;
  /** Set when the device as a whole failed (lost, reset required, handle unavailable). */
  error: DeviceError | null;
  /** Per-field NVML return names for fields that came back null (e.g. memory: NVML_ERROR_NOT_SUPPORTED). */
  fieldErrors: Record<string, string>;
}

export interface GpuSnapshot {
  /** Increases by one per finished sample; 0 before the first. */
  seq: number;
  /** Wall-clock time (ms since epoch) the sample finished. */
  takenAt: number;
  /** How long the sample took in NVML, in milliseconds. */
  durationMs: number;
  /** NVML loaded and initialised. */
  available: boolean;
  /** Why NVML is not available, e.g. "libnvidia-ml.so.1 not found: ...". Null when available. */
  unavailableReason: string | null;
  /** NVML return name of the failed init, where init was reached. */
  initError: string | null;
  libraryPath: string | null;
  driverVersion: string | null;
  nvmlVersion: string | null;
  /** CUDA driver API version as NVML encodes it (e.g. 12040 = 12.4). */
  cudaDriverVersion: number | null;
  /**
   * Which NVML entry point of each fallback chain is in use, e.g. { memory: 'nvmlDeviceGetMemoryInfo_v2',
   * temperature: 'nvmlDeviceGetTemperature' }; also set when init failed (what the library would be
   * read through). `processesEntryBytes: '32'` on drivers 535.43-535.86, whose _v3 entries are 32 bytes.
   */
  api: Record<string, string>;
  devices: GpuDevice[];
}
