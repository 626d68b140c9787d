// The one file that loads the native addon. It declares the addon's raw shape and turns its
// failures into GpuArbiterErrors; no other module touches the addon directly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GpuArbiterError } from './errors';

const packageRoot = path.resolve(__dirname, '..');

/** Raw per-device sample as the native sampler produces it (see native/nvml/sample_js.cc). */
export interface RawDeviceSample {
  index: number;
  /** NVML return name of a device-wide failure, and the call that reported it. */
  error: string | null;
  errorCall?: string;
  name: string | null;
  uuid: string | null;
  memory: { total: number; used: number; free: number; reserved: number | null } | null;
  utilization: { gpu: number; memory: number } | null;
  temperatureC: number | null;
  powerW: number | null;
  powerLimitW: number | null;
  persistenceMode: boolean | null;
  migMode: boolean | null;
  processes: Array<{ pid: number; usedBytes: number | null }> | null;
  errors: Record<string, string>;
}

export interface RawSnapshot {
  seq: number;
  takenAtMs: number;
  durationUs: number;
  available: boolean;
  reason: string | null;
  initError: string | null;
  libraryPath: string | null;
  driverVersion: string | null;
  nvmlVersion: string | null;
  cudaDriverVersion: number | null;
  /** NVML return name when nvmlDeviceGetCount failed. */
  countError: string | null;
  api: Record<string, string>;
  devices: RawDeviceSample[];
}

export interface RawSamplerOptions {
  libraryPath?: string;
  intervalMs: number;
  /** Called on the JS thread after every sample, with the new sequence number. */
  onSample: (seq: number) => void;
}

export interface RawSampler {
  /** Starts the sampler thread (idempotent). */
  start(): void;
  /** Stops the thread; resolves once it has left NVML (a hung call delays only this promise). */
  stop(): Promise<void>;
  /** Resolves with the sequence number of a sample that started after this call. */
  sampleNow(): Promise<number>;
  /** Sequence number of the newest finished sample (0 before the first); cheap. */
  seq(): number;
  snapshot(): RawSnapshot;
  setIntervalMs(ms: number): void;
}

export interface RawAddon {
  nvml: {
    Sampler: new (options: RawSamplerOptions) => RawSampler;
    returnName(code: number): string;
  };
  host: Record<string, unknown>;
}

export interface AddonInfo {
  /** Absolute path of the .node file that was loaded. */
  file: string;
  /** 'prebuild' (shipped in prebuilds/), 'local-build' (build/Release) or 'override' (GPU_ARBITER_ADDON). */
  origin: 'prebuild' | 'local-build' | 'override';
}

let loaded: { addon: RawAddon; info: AddonInfo } | undefined;

function originOf(file: string): AddonInfo['origin'] {
  if (process.env.GPU_ARBITER_ADDON) return 'override';
  return file.includes(`${path.sep}prebuilds${path.sep}`) ? 'prebuild' : 'local-build';
}

function resolveAddonFile(): string {
  const override = process.env.GPU_ARBITER_ADDON;
  if (override) {
    if (!fs.existsSync(override)) {
      throw new GpuArbiterError('E_NATIVE_LOAD', `GPU_ARBITER_ADDON names ${override}, which does not exist`);
    }
    return path.resolve(override);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  try {
    return nodeGypBuild.resolve(packageRoot);
  } catch (err) {
    throw new GpuArbiterError(
      'E_NATIVE_LOAD',
      `No native addon found for linux-${process.arch} (Node-API). Looked in ` +
        `${path.join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`)} and ` +
        `${path.join(packageRoot, 'build', 'Release')}. Fix: npm rebuild gpu-arbiter ` +
        `(or npm_config_build_from_source=true npm install); it needs cmake and g++.`,
      { cause: (err as Error).message },
      { cause: err },
    );
  }
}

/** Loads the addon once per JS environment (each worker_thread loads its own instance). */
export function addon(): RawAddon {
  return load().addon;
}

/** Which addon file is in use and where it came from (for `doctor` and `status`). */
export function addonInfo(): AddonInfo {
  return load().info;
}

function load(): { addon: RawAddon; info: AddonInfo } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    throw new GpuArbiterError(
      'E_UNSUPPORTED_PLATFORM',
      `gpu-arbiter's native addon supports Linux only; this is ${process.platform}-${process.arch}`,
    );
  }
  const file = resolveAddonFile();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const raw = require(file) as RawAddon;
    loaded = { addon: raw, info: { file, origin: originOf(file) } };
    return loaded;
  } catch (err) {
    throw new GpuArbiterError(
      'E_NATIVE_LOAD',
      `Failed to load the native addon ${file}: ${(err as Error).message}. ` +
        `Fix: npm rebuild gpu-arbiter (builds it from source with cmake-js).`,
      { file },
      { cause: err },
    );
  }
}
