// What `npm run test:gpu` needs of the host, probed once per test file: a usable NVML with at
// least one GPU, and for the checks that do real GPU work python3 with torch (CUDA) and pynvml.
// Each check that cannot run says why (the suite's title and the report), never passes silently.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { diagnoseNvml } from '../../src/gpu/diagnose';
import { GpuMonitor } from '../../src/gpu/monitor';
import type { GpuSnapshot } from '../../src/gpu/types';

export const ROOT = path.resolve(__dirname, '../..');
export const PY = path.join(__dirname, 'py');
export const CLI = path.join(ROOT, 'dist/cli/main.js');
export const REPORT = path.join(ROOT, 'build/gpu-report.txt');
export const MiB = 1024 * 1024;

/** One line of the report printed at the end of `npm run test:gpu` (test/gpu/setup.ts). */
export function report(line: string): void {
  fs.mkdirSync(path.dirname(REPORT), { recursive: true });
  fs.appendFileSync(REPORT, `${line}\n`);
}

/** NVML's first sample, and why the GPU checks cannot run here (null when they can). */
export async function probeGpu(): Promise<{ snapshot: GpuSnapshot; skip: string | null }> {
  const m = await GpuMonitor.create();
  const snapshot = m.snapshot();
  await m.stop();
  const problem = diagnoseNvml(snapshot);
  if (problem) return { snapshot, skip: `no usable NVML on this host: ${problem.cause}` };
  if (snapshot.devices.length === 0) return { snapshot, skip: 'NVML works but sees no GPU' };
  return { snapshot, skip: null };
}

function python(code: string): boolean {
  const res = spawnSync('python3', ['-c', code], { encoding: 'utf8', timeout: 120_000 });
  return !res.error && res.status === 0;
}

/** Why python3 + torch with CUDA cannot be used here, or null. */
export function torchMissing(): string | null {
  return python('import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)') ? null : 'python3 with torch (CUDA) is not installed here';
}

/** Why pynvml (nvidia-ml-py) cannot be used here, or null. */
export function pynvmlMissing(): string | null {
  return python('import pynvml') ? null : 'python3 with pynvml (nvidia-ml-py) is not installed here';
}

/** The first skip reason of several, or null when every requirement holds. */
export function firstReason(...reasons: Array<string | null | (() => string | null)>): string | null {
  for (const r of reasons) {
    const v = typeof r === 'function' ? r() : r;
    if (v !== null) return v;
  }
  return null;
}

/** A suite title that says why it is skipped. */
export function title(name: string, skip: string | null): string {
  if (skip !== null) report(`${name}: skipped: ${skip}`);
  return skip === null ? name : `${name} (skipped: ${skip})`;
}
