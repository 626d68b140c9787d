// health() with no GPU says why: the GPU monitor's reason, not only "no GPU" (issue 16, defect 7).
import { describe, expect, it } from 'vitest';
import { computeHealth, type HealthFacts } from '../src/observe/health';

const facts = (nvml: HealthFacts['nvml']): HealthFacts => ({
  closed: false,
  gpus: [],
  nvml,
  backendAvailable: null,
  hasFallback: false,
  backendKind: 'local',
  lastRenewalFailureAt: null,
  lastReleaseFailureAt: null,
  watchdogFiring: [],
  criticalLog: null,
  now: 0,
  recentMs: 60_000,
});
const gpus = (f: HealthFacts) => computeHealth(f).checks.find((c) => c.name === 'gpus');

describe('health: the gpus check with no GPU', () => {
  it("carries NVML's reason when NVML is unavailable", () => {
    const reason = 'nvmlInit failed: NVML_ERROR_DRIVER_NOT_LOADED (Driver Not Loaded) (library /usr/lib/libnvidia-ml.so.1)';
    expect(gpus(facts({ available: false, reason }))).toEqual({
      name: 'gpus',
      status: 'down',
      detail: `no GPU to admit on: NVML not available: ${reason}`,
    });
  });

  it('says NVML sees none when NVML works but lists no GPU', () => {
    expect(gpus(facts({ available: true, reason: null }))?.detail).toBe('no GPU to admit on: NVML sees none (or options.devices names none it sees)');
  });

  it('stays as before when the arbiter hands in no monitor state', () => {
    expect(gpus(facts(undefined))).toEqual({ name: 'gpus', status: 'down', detail: 'no GPU to admit on' });
  });
});

describe('GpuArbiter.health() with NVML unavailable', () => {
  it("hands the monitor's NVML reason to the gpus check", async () => {
    const { GpuArbiter } = await import('../src/arbiter/gpu-arbiter');
    const prev = process.env.GPU_ARBITER_NVML_LIB;
    process.env.GPU_ARBITER_NVML_LIB = '/nonexistent/libnvidia-ml.so.1';
    try {
      const a = await GpuArbiter.create({ policies: { T: { priority: 1, vramMiB: 1 } } });
      try {
        expect(a.health().checks.find((c) => c.name === 'gpus')?.detail).toMatch(/^no GPU to admit on: NVML not available: .*nonexistent/);
      } finally {
        await a.close();
      }
    } finally {
      if (prev === undefined) delete process.env.GPU_ARBITER_NVML_LIB;
      else process.env.GPU_ARBITER_NVML_LIB = prev;
    }
  });
});
