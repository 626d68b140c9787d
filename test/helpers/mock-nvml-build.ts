// Builds the mock libnvidia-ml.so.1 (native/mock-nvml/mock_nvml.c) in its three
// variants. Called from vitest's global setup and again (cheaply: two stats) by MockNvml.create,
// possibly from several workers at once: each build goes to a unique temp name and is renamed
// into place, so a reader sees either no library or a whole one.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface MockNvmlLibs {
  /** Every symbol. */
  full: string;
  /** No nvmlDeviceGetComputeRunningProcesses_v3 nor nvmlDeviceGetTemperatureV (drivers before 510): _v2 and the plain temperature call. */
  noProcV3: string;
  /** Only the unversioned entry points, as in old drivers: every _v2/_v3 fallback is taken. */
  legacy: string;
}
export type MockNvmlVariant = keyof MockNvmlLibs;

const REPO_ROOT = path.resolve(__dirname, '../..');
const SOURCE = path.join(REPO_ROOT, 'native/mock-nvml/mock_nvml.c');
const OUT_ROOT = path.join(REPO_ROOT, 'build/mock-nvml');
const LIB_NAME = 'libnvidia-ml.so.1';

const CFLAGS = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-pthread', `-Wl,-soname,${LIB_NAME}`];

/** Symbols each variant leaves out (compiled with -DOMIT_<symbol>). */
const OMIT: Record<MockNvmlVariant, readonly string[]> = {
  full: [],
  noProcV3: ['nvmlDeviceGetComputeRunningProcesses_v3', 'nvmlDeviceGetTemperatureV'],
  legacy: [
    'nvmlInitWithFlags',
    'nvmlInit_v2',
    'nvmlDeviceGetCount_v2',
    'nvmlDeviceGetHandleByIndex_v2',
    'nvmlDeviceGetMemoryInfo_v2',
    'nvmlDeviceGetComputeRunningProcesses_v3',
    'nvmlDeviceGetComputeRunningProcesses_v2',
    'nvmlSystemGetCudaDriverVersion_v2',
    'nvmlDeviceGetTemperatureV',
  ],
};

const VARIANTS = Object.keys(OMIT) as MockNvmlVariant[];

function libPaths(): MockNvmlLibs {
  const p = (v: MockNvmlVariant) => path.join(OUT_ROOT, v, LIB_NAME);
  return { full: p('full'), noProcV3: p('noProcV3'), legacy: p('legacy') };
}

function mtimeMs(file: string): number | null {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

function buildVariant(variant: MockNvmlVariant, out: string): void {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const args = [...CFLAGS, ...OMIT[variant].map((s) => `-DOMIT_${s}`), '-o', tmp, SOURCE];
  try {
    execFileSync('cc', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    fs.renameSync(tmp, out);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    const e = err as { stderr?: Buffer; message?: string };
    const detail = e.stderr?.toString().trim() || e.message || String(err);
    throw new Error(`building the mock NVML (${variant}) failed: cc ${args.join(' ')}\n${detail}`);
  }
}

/** Builds (when missing or older than mock_nvml.c) and returns the three libraries' paths. */
export function buildMockNvml(): MockNvmlLibs {
  const src = mtimeMs(SOURCE);
  if (src === null) throw new Error(`mock NVML source not found: ${SOURCE}`);
  const libs = libPaths();
  for (const variant of VARIANTS) {
    const built = mtimeMs(libs[variant]);
    if (built === null || built < src) buildVariant(variant, libs[variant]);
  }
  return libs;
}

/** The three libraries' paths, without building; throws if any is missing. */
export function mockNvmlLibs(): MockNvmlLibs {
  const libs = libPaths();
  const missing = VARIANTS.filter((v) => !fs.existsSync(libs[v]));
  if (missing.length > 0) {
    throw new Error(
      `mock NVML not built (${missing.map((v) => libs[v]).join(', ')}): call buildMockNvml() first (vitest does it in test/helpers/global-setup.ts)`,
    );
  }
  return libs;
}
