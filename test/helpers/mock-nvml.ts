// Drives the mock libnvidia-ml.so.1 (native/mock-nvml): a test describes fake GPUs as a
// MockNvmlState, MockNvml writes it to the key=value file the library re-reads on every NVML call,
// and the test changes it (update/write) while the monitor's sampler thread polls.
//
//   const nvml = MockNvml.create({ devices: [defaultDevice(0)] });
//   const restore = nvml.apply();            // MOCK_NVML_STATE + GPU_ARBITER_NVML_LIB
//   nvml.update((s) => { s.devices[0].memoryUsed = 30 * GiB; });
//   nvml.update((s) => { s.fail = { nvmlDeviceGetMemoryInfo_v2: 15 } });   // GPU_IS_LOST
//   restore(); nvml.cleanup();
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildMockNvml, type MockNvmlVariant } from './mock-nvml-build';

export type { MockNvmlVariant } from './mock-nvml-build';

/** A fake GPU. A field left undefined makes its NVML call return NOT_SUPPORTED (3). */
export interface MockDevice {
  name?: string;
  uuid?: string;
  memoryTotal?: number;
  memoryUsed?: number;
  /**
   * Driver-reserved memory (default 0), as a real card has: v2 reports it apart (free = total -
   * reserved - used); v1's used includes it (used = memoryUsed + memoryReserved, free = total - that).
   */
  memoryReserved?: number;
  utilGpu?: number;
  utilMemory?: number;
  temperature?: number;
  powerMw?: number;
  powerLimitMw?: number;
  persistence?: boolean;
  /** Current and pending MIG mode. */
  mig?: boolean;
  /** usedBytes null = NVML_VALUE_NOT_AVAILABLE. Undefined = NOT_SUPPORTED; [] = no processes. */
  processes?: Array<{ pid: number; usedBytes: number | null }>;
}

export interface MockNvmlState {
  driverVersion?: string;
  nvmlVersion?: string;
  cudaDriverVersion?: number;
  /** Defaults to devices.length. */
  deviceCount?: number;
  devices: MockDevice[];
  /** NVML return code per symbol (`nvmlDeviceGetName`) or per symbol and device (`nvmlDeviceGetName.1`). */
  fail?: Record<string, number>;
  /** Milliseconds to sleep before answering, keyed like `fail`; applied before `fail`. */
  delayMs?: Record<string, number>;
  /** Entry stride of nvmlDeviceGetComputeRunningProcesses_v3 (32 reproduces drivers 535.43-535.86). */
  procV3Stride?: number;
  /** usedGpuCcProtectedMemory written in each 32-byte _v3 entry (confidential computing on); default 0. */
  ccProtectedMemory?: number;
  /** File the library appends "<symbol>\n" to on every call. */
  callLog?: string;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** An idle A100-SXM4-40GB with every field set; the uuid is derived from `index`. */
export function defaultDevice(index: number, overrides: Partial<MockDevice> = {}): MockDevice {
  return {
    name: 'NVIDIA A100-SXM4-40GB',
    uuid: `GPU-6a1e0f3c-8b2d-4c57-9e10-${index.toString(16).padStart(12, '0')}`,
    memoryTotal: 40 * GiB,
    memoryUsed: 0,
    memoryReserved: 0,
    utilGpu: 0,
    utilMemory: 0,
    temperature: 32,
    powerMw: 54_000,
    powerLimitMw: 400_000,
    persistence: true,
    mig: false,
    processes: [],
    ...overrides,
  };
}

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.\d+)?$/;

function uint(what: string, v: number): string {
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`mock NVML: ${what} must be a non-negative integer, got ${v}`);
  return String(v);
}

function text(what: string, v: string): string {
  // The file is line-based, values are trimmed and '#' after whitespace starts a comment.
  if (/[\r\n]/.test(v) || v !== v.trim() || /(^|\s)#/.test(v)) {
    throw new Error(`mock NVML: ${what} cannot be written to the state file: ${JSON.stringify(v)}`);
  }
  return v;
}

/** The state file's text (see native/mock-nvml/README.md). */
export function serializeMockState(s: MockNvmlState): string {
  const lines = ['# gpu-arbiter mock NVML state (written by test/helpers/mock-nvml.ts)'];
  const put = (key: string, value: string) => lines.push(`${key}=${value}`);
  if (s.driverVersion !== undefined) put('driver_version', text('driverVersion', s.driverVersion));
  if (s.nvmlVersion !== undefined) put('nvml_version', text('nvmlVersion', s.nvmlVersion));
  if (s.cudaDriverVersion !== undefined) put('cuda_driver_version', uint('cudaDriverVersion', s.cudaDriverVersion));
  // Always explicit: a trailing device with no fields would otherwise not be counted.
  put('device_count', uint('deviceCount', s.deviceCount ?? s.devices.length));
  s.devices.forEach((d, i) => {
    if (!d) return;
    const dev = (field: string, value: string | undefined) => {
      if (value !== undefined) put(`device.${i}.${field}`, value);
    };
    const num = (field: string, v: number | undefined) => dev(field, v === undefined ? undefined : uint(`devices[${i}].${field}`, v));
    const bool = (field: string, v: boolean | undefined) => dev(field, v === undefined ? undefined : v ? '1' : '0');
    dev('name', d.name === undefined ? undefined : text(`devices[${i}].name`, d.name));
    dev('uuid', d.uuid === undefined ? undefined : text(`devices[${i}].uuid`, d.uuid));
    num('memory_total', d.memoryTotal);
    num('memory_used', d.memoryUsed);
    num('memory_reserved', d.memoryReserved);
    num('util_gpu', d.utilGpu);
    num('util_memory', d.utilMemory);
    num('temperature', d.temperature);
    num('power_mw', d.powerMw);
    num('power_limit_mw', d.powerLimitMw);
    bool('persistence', d.persistence);
    bool('mig', d.mig);
    if (d.processes !== undefined) {
      const items = d.processes.map((p) => `${uint('pid', p.pid)}:${p.usedBytes === null ? 'na' : uint('usedBytes', p.usedBytes)}`);
      dev('processes', items.join(','));
    }
  });
  for (const [prefix, table, isCode] of [
    ['fail', s.fail, true],
    ['delay_ms', s.delayMs, false],
  ] as const) {
    for (const [key, value] of Object.entries(table ?? {})) {
      if (!KEY_RE.test(key)) throw new Error(`mock NVML: bad ${prefix} key ${JSON.stringify(key)} (want symbol or symbol.index)`);
      if (isCode && !Number.isSafeInteger(value)) throw new Error(`mock NVML: fail.${key} must be an integer, got ${value}`);
      put(`${prefix}.${key}`, isCode ? String(value) : uint(`delay_ms.${key}`, value));
    }
  }
  if (s.procV3Stride !== undefined) put('proc_v3_stride', uint('procV3Stride', s.procV3Stride));
  if (s.ccProtectedMemory !== undefined) put('cc_protected_memory', uint('ccProtectedMemory', s.ccProtectedMemory));
  if (s.callLog !== undefined) put('call_log', text('callLog', s.callLog));
  return `${lines.join('\n')}\n`;
}

let tmpCounter = 0;

export class MockNvml {
  readonly dir: string;
  readonly statePath: string;
  readonly libraryPath: string;
  /** The state last written (a private copy: edit it through update/write). */
  state: MockNvmlState;

  private constructor(dir: string, libraryPath: string, state: MockNvmlState) {
    this.dir = dir;
    this.statePath = path.join(dir, 'nvml-state.conf');
    this.libraryPath = libraryPath;
    this.state = state;
    this.write(state);
  }

  /** A fresh temp dir holding the state file; builds the library if needed (cheap when built). */
  static create(state: MockNvmlState, variant: MockNvmlVariant = 'full'): MockNvml {
    const libraryPath = buildMockNvml()[variant];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-mock-'));
    try {
      return new MockNvml(dir, libraryPath, state);
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Replaces the state file atomically (temp + rename): the library never reads half a file. */
  write(state: MockNvmlState): void {
    const body = serializeMockState(state);
    const tmp = `${this.statePath}.tmp-${process.pid}-${++tmpCounter}`;
    fs.writeFileSync(tmp, body);
    fs.renameSync(tmp, this.statePath);
    this.state = structuredClone(state);
  }

  /** Mutates a deep copy of the current state, then writes it. */
  update(fn: (s: MockNvmlState) => void): void {
    const next = structuredClone(this.state);
    fn(next);
    this.write(next);
  }

  /** The environment a child process needs to load this mock through gpu-arbiter. */
  env(): Record<string, string> {
    return { MOCK_NVML_STATE: this.statePath, GPU_ARBITER_NVML_LIB: this.libraryPath };
  }

  /** Sets env() in process.env; returns a function restoring the previous values. */
  apply(): () => void {
    const vars = this.env();
    const saved = Object.keys(vars).map((k) => [k, process.env[k]] as const);
    Object.assign(process.env, vars);
    let restored = false;
    return () => {
      if (restored) return;
      restored = true;
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    };
  }

  /** The symbols logged so far, oldest first ([] when callLog is unset or nothing was called). */
  callLogLines(): string[] {
    if (this.state.callLog === undefined) return [];
    let body: string;
    try {
      body = fs.readFileSync(this.state.callLog, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return body.split('\n').filter((line) => line !== '');
  }

  /** Removes the temp dir (state file, and the call log if it was put there). */
  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
