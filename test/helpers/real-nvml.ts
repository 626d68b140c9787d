// NVIDIA's real libnvidia-ml.so.1 (several driver branches) and nvml.h, fetched from Debian's
// non-free archive by scripts/fetch-real-nvml.sh into node_modules/.cache (cached there). Where the
// archive cannot be reached the suites that need them skip and say why - except under CI,
// where they must run: there the fetch failing fails the suite.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(REPO_ROOT, 'scripts/fetch-real-nvml.sh');
export const REAL_NVML_DIR = path.join(REPO_ROOT, 'node_modules/.cache/gpu-arbiter-real-nvml');

export interface RealNvmlLib {
  /** Debian package, e.g. libnvidia-tesla-470-ml1. */
  pkg: string;
  /** Package version, e.g. 470.256.02-1~deb12u1. */
  version: string;
  /** Absolute path of its libnvidia-ml.so.1. */
  path: string;
}

export interface RealNvml {
  libs: RealNvmlLib[];
  /** NVIDIA's nvml.h (libnvidia-ml-dev) and its package version. */
  header: { path: string; version: string };
}

export type RealNvmlFetch = { ok: true; real: RealNvml } | { ok: false; reason: string };

let cached: RealNvmlFetch | undefined;

/** Runs the fetch once per process (the script itself caches across runs). */
export function fetchRealNvml(): RealNvmlFetch {
  if (cached) return cached;
  const res = spawnSync('bash', [SCRIPT, REAL_NVML_DIR], { encoding: 'utf8', timeout: 180_000 });
  if (res.error || res.status !== 0) {
    const why = (res.stderr || res.error?.message || `exit ${res.status}`).trim();
    cached = { ok: false, reason: `scripts/fetch-real-nvml.sh failed: ${why}` };
    return cached;
  }
  const rows = fs
    .readFileSync(path.join(REAL_NVML_DIR, 'manifest.tsv'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split('\t'));
  const libs: RealNvmlLib[] = [];
  let header: RealNvml['header'] | undefined;
  for (const [pkg, version, rel] of rows) {
    const abs = path.join(REAL_NVML_DIR, rel);
    if (rel.endsWith('nvml.h')) header = { path: abs, version };
    else libs.push({ pkg, version, path: abs });
  }
  cached = header ? { ok: true, real: { libs, header } } : { ok: false, reason: 'the manifest names no nvml.h' };
  return cached;
}

/**
 * The fetched files, or null with the reason printed. Under CI (CI=true) a failed fetch throws:
 * the suites against the real libraries are part of what CI proves.
 */
export function realNvmlOrSkip(suite: string): { real: RealNvml | null; skipReason: string | null } {
  const r = fetchRealNvml();
  if (r.ok) return { real: r.real, skipReason: null };
  if (process.env.CI) throw new Error(`${suite}: NVIDIA's libraries are needed under CI and could not be fetched: ${r.reason}`);
  console.warn(`${suite}: skipped: ${r.reason}`);
  return { real: null, skipReason: r.reason };
}

/**
 * As root, NVIDIA's nvmlInit creates /dev/nvidiactl (char 195:255) even when no driver is loaded
 * and leaves it behind. Without a loaded driver (/proc/driver/nvidia absent) such a node is only
 * ever that leftover, so it is removed; with a driver loaded nothing is touched.
 */
export function removeStrayNvidiaCtl(): void {
  if (fs.existsSync('/proc/driver/nvidia')) return;
  try {
    const st = fs.statSync('/dev/nvidiactl');
    const major = Math.floor(st.rdev / 256) & 0xfff;
    const minor = st.rdev & 0xff;
    if (st.isCharacterDevice() && major === 195 && minor === 255) fs.rmSync('/dev/nvidiactl');
  } catch {
    // absent, or not ours to remove (not root): nothing to clean
  }
}

/** The dynamic symbols a library exports (nm -D), or null where binutils' nm is not installed. */
export function exportedSymbols(lib: string): Set<string> | null {
  const res = spawnSync('nm', ['-D', '--defined-only', lib], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.error || res.status !== 0) return null;
  return new Set(res.stdout.split('\n').map((line) => line.trim().split(/\s+/)[2] ?? ''));
}
