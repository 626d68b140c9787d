// `doctor`: each check's verdict and fix, and the exit code (0 only when nothing FAILs).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDoctor } from '../src/doctor';
import { MockNvml, defaultDevice, type MockNvmlState } from './helpers/mock-nvml';

const cli = path.resolve(__dirname, '../dist/cli/main.js');
let nvml: MockNvml | undefined;
let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  nvml?.cleanup();
  nvml = undefined;
  restore = undefined;
});

function useMock(state: MockNvmlState): MockNvml {
  nvml = MockNvml.create(state);
  restore = nvml.apply();
  return nvml;
}

describe('doctor', () => {
  it('passes on a healthy mock host', async () => {
    useMock({ devices: [defaultDevice(0), defaultDevice(1)] });
    const report = await runDoctor();
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.id, c.verdict])).toEqual([
      ['addon', 'PASS'],
      ['nvml', 'PASS'],
      ['shm', 'PASS'],
    ]);
    expect(report.checks[1].detail).toMatch(/2 GPU\(s\)/);
  });

  it('warns, with the fix, on persistence off, MIG on and no permission to read processes', async () => {
    useMock({
      devices: [defaultDevice(0, { persistence: false }), defaultDevice(1, { mig: true })],
      fail: { 'nvmlDeviceGetComputeRunningProcesses_v3.0': 4 },
    });
    const report = await runDoctor();
    expect(report.ok).toBe(true);
    const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]));
    expect(byId['gpu.0.persistence']).toMatchObject({ verdict: 'WARN', fix: expect.stringContaining('nvidia-smi -pm 1') });
    expect(byId['gpu.1.mig']).toMatchObject({ verdict: 'WARN' });
    expect(byId['gpu.0.processes']).toMatchObject({ verdict: 'WARN', detail: 'GPU 0: no permission to read the compute processes' });
  });

  it('fails on a lost GPU and on an unwritable ledger directory', async () => {
    useMock({ devices: [defaultDevice(0), defaultDevice(1)], fail: { 'nvmlDeviceGetMemoryInfo_v2.1': 15 } });
    const report = await runDoctor({ shmDir: '/nonexistent-shm' });
    expect(report.ok).toBe(false);
    const failed = report.checks.filter((c) => c.verdict === 'FAIL').map((c) => c.id);
    expect(failed).toEqual(['gpu.1', 'shm']);
    expect(report.checks.find((c) => c.id === 'gpu.1')?.detail).toContain('NVML_ERROR_GPU_IS_LOST');
  });

  it('without NVML warns (the package still works) and says why', async () => {
    const report = await runDoctor({ libraryPath: '/nonexistent/libnvidia-ml.so.1' });
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.id === 'nvml')).toMatchObject({ verdict: 'WARN', detail: expect.stringContaining('not found') });
  });

  it('the CLI exits 1 when a check FAILs and 0 otherwise; --json prints the report', () => {
    const m = MockNvml.create({ devices: [defaultDevice(0)], fail: { nvmlDeviceGetName: 15 } });
    nvml = m;
    const bad = spawnSync(process.execPath, [cli, 'doctor'], { env: { ...process.env, ...m.env() }, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL {2}gpu\.0 /m);
    expect(bad.stdout).toMatch(/1 FAIL, 0 WARN, 3 PASS/);
    m.update((s) => {
      s.fail = {};
    });
    const good = spawnSync(process.execPath, [cli, 'doctor', '--json'], { env: { ...process.env, ...m.env() }, encoding: 'utf8' });
    expect(good.status).toBe(0);
    expect(JSON.parse(good.stdout).ok).toBe(true);
  });
});
