// `gpu-arbiter doctor`: checks of what gpu-arbiter needs on this host, each with a verdict and,
// where it is not PASS, the fix. Checks are plain async functions so later areas (host ledger,
// Redis) add theirs to the list.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isGpuArbiterError } from '../errors';
import { diagnoseNvml } from '../gpu/diagnose';
import { GpuMonitor } from '../gpu/monitor';
import type { GpuSnapshot } from '../gpu/types';
import { addonInfo } from '../native/addon';
import { hostLedgerChecks, redisChecks } from './remote';

import type { CheckResult } from './types';

export type { CheckResult, Verdict } from './types';

export interface DoctorOptions {
  /** NVML library to check (default: as GpuMonitor). */
  libraryPath?: string;
  /** Where host ledgers live. @default '/dev/shm' */
  shmDir?: string;
  /** Host ledger namespaces to read. @default every one on this host */
  hostNamespaces?: string[];
  /** A redis:// URL: check it is reachable, its version and cluster mode, and the clock skew. */
  redis?: string;
  /** Redis check tuning (tests). */
  redisTimeoutMs?: number;
  skewWarnMs?: number;
  now?: () => number;
}

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

function addonCheck(): CheckResult {
  try {
    const info = addonInfo();
    return { id: 'addon', verdict: 'PASS', detail: `loaded ${info.file} (${info.origin})` };
  } catch (err) {
    return {
      id: 'addon',
      verdict: 'FAIL',
      detail: (err as Error).message,
      fix: 'npm rebuild gpu-arbiter (needs cmake and g++), or install on linux-x64 where a prebuild ships',
    };
  }
}

async function sampleNvml(libraryPath?: string): Promise<GpuSnapshot> {
  const monitor = new GpuMonitor(libraryPath ? { libraryPath } : {});
  try {
    await monitor.start();
    return monitor.snapshot();
  } finally {
    await monitor.stop();
  }
}

function nvmlChecks(s: GpuSnapshot): CheckResult[] {
  const problem = diagnoseNvml(s);
  if (problem !== null) {
    return [
      {
        id: 'nvml',
        verdict: 'WARN',
        detail: `NVML not available: ${problem.cause}`,
        fix: `${problem.fix}; without NVML admission runs on declared capacities only`,
      },
    ];
  }
  const out: CheckResult[] = [
    {
      id: 'nvml',
      verdict: 'PASS',
      detail: `${s.libraryPath}, driver ${s.driverVersion ?? 'unknown'}, NVML ${s.nvmlVersion ?? 'unknown'}, ${s.devices.length} GPU(s)`,
    },
  ];
  if (s.devices.length === 0) {
    out.push({ id: 'nvml.devices', verdict: 'WARN', detail: 'NVML sees no GPU', fix: 'check `nvidia-smi -L` and the container device mounts' });
  }
  for (const d of s.devices) {
    const gpu = `GPU ${d.index}`;
    if (d.error) {
      out.push({
        id: `gpu.${d.index}`,
        verdict: 'FAIL',
        detail: `${gpu}: ${d.error.message}`,
        fix: 'the GPU takes no new grants; check `nvidia-smi` and dmesg (Xid errors); a reset or reboot may be needed',
      });
      continue;
    }
    if (d.fieldErrors.processes === 'NVML_ERROR_NO_PERMISSION') {
      out.push({
        id: `gpu.${d.index}.processes`,
        verdict: 'WARN',
        detail: `${gpu}: no permission to read the compute processes`,
        fix: 'run as a user allowed to query processes (or root); admission then falls back to used - declared',
      });
    }
    if (d.persistenceMode === false) {
      out.push({
        id: `gpu.${d.index}.persistence`,
        verdict: 'WARN',
        detail: `${gpu}: persistence mode is off (each NVML init may take seconds)`,
        fix: 'nvidia-smi -pm 1 (or enable nvidia-persistenced)',
      });
    }
    if (d.migMode === true) {
      out.push({
        id: `gpu.${d.index}.mig`,
        verdict: 'WARN',
        detail: `${gpu}: MIG is on: utilisation and per-process memory are not reported`,
        fix: 'admission uses used - declared for this GPU; declare vramMiB for every task',
      });
    }
  }
  return out;
}

function shmCheck(dir: string): CheckResult {
  const probe = path.join(dir, `gpu-arbiter-doctor-${process.pid}`);
  try {
    fs.writeFileSync(probe, 'x');
    fs.rmSync(probe, { force: true });
    return { id: 'shm', verdict: 'PASS', detail: `${dir} is writable` };
  } catch (err) {
    return {
      id: 'shm',
      verdict: 'FAIL',
      detail: `${dir} is not writable: ${(err as Error).message}`,
      fix: 'the host backend keeps its ledger in /dev/shm: mount it (docker: --shm-size, or --ipc=host to share with other containers)',
    };
  }
}

/** Runs every check. Never throws for a failed check; the report says what failed. */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const checks: CheckResult[] = [addonCheck()];
  if (checks[0].verdict === 'PASS') {
    try {
      checks.push(...nvmlChecks(await sampleNvml(options.libraryPath)));
    } catch (err) {
      if (!isGpuArbiterError(err)) throw err;
      checks.push({ id: 'nvml', verdict: 'FAIL', detail: err.message });
    }
  }
  checks.push(shmCheck(options.shmDir ?? '/dev/shm'));
  checks.push(...(await hostLedgerChecks(options.hostNamespaces)));
  if (options.redis !== undefined) {
    checks.push(...(await redisChecks({ url: options.redis, timeoutMs: options.redisTimeoutMs, skewWarnMs: options.skewWarnMs, now: options.now })));
  }
  return { ok: checks.every((c) => c.verdict !== 'FAIL'), checks };
}
