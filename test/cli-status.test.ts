// `gpu-arbiter status` as a user runs it: a real child process of the built CLI.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GiB, MockNvml, defaultDevice } from './helpers/mock-nvml';

const cli = path.resolve(__dirname, '../dist/cli/main.js');
let nvml: MockNvml | undefined;
afterEach(() => {
  nvml?.cleanup();
  nvml = undefined;
});

function run(args: string[], env: Record<string, string | undefined> = {}) {
  const fullEnv = { ...process.env, GPU_ARBITER_NVML_LIB: undefined, MOCK_NVML_STATE: undefined, ...env };
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
  return spawnSync(process.execPath, [cli, ...args], { env: fullEnv as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 20_000 });
}

function mockWithTwoGpus(): MockNvml {
  nvml = MockNvml.create({
    driverVersion: '550.54.15',
    nvmlVersion: '12.550.54.15',
    cudaDriverVersion: 12040,
    devices: [
      defaultDevice(0, { memoryUsed: 10 * GiB, utilGpu: 37, processes: [{ pid: 31337, usedBytes: 9 * GiB }] }),
      defaultDevice(1, { name: 'NVIDIA L4', memoryTotal: 24 * GiB }),
    ],
    fail: { 'nvmlDeviceGetUtilizationRates.1': 15 },
  });
  return nvml;
}

describe('gpu-arbiter status', () => {
  it('without NVML says so and why, and exits 0', () => {
    const res = run(['status'], { GPU_ARBITER_NVML_LIB: '/nonexistent/libnvidia-ml.so.1' });
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/^addon: .*gpu[-_]arbiter\.node \((local-build|prebuild)\)$/m);
    expect(res.stdout).toMatch(/^NVML: not available - \/nonexistent\/libnvidia-ml\.so\.1 not found: /m);
  });

  it('without NVML, --json carries the reason', () => {
    const res = run(['status', '--json'], { GPU_ARBITER_NVML_LIB: '/nonexistent/libnvidia-ml.so.1' });
    expect(res.status).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report.nvml.available).toBe(false);
    expect(report.nvml.unavailableReason).toMatch(/not found/);
    expect(report.nvml.devices).toEqual([]);
  });

  it('on the mock shows versions, each GPU, VRAM, utilisation, processes and a lost GPU', () => {
    const m = mockWithTwoGpus();
    const res = run(['status'], m.env());
    expect(res.status).toBe(0);
    const out = res.stdout;
    expect(out).toContain(`NVML: available (${m.libraryPath})`);
    expect(out).toContain('driver 550.54.15, NVML 12.550.54.15, CUDA 12.4');
    expect(out).toContain('GPUs: 2');
    expect(out).toMatch(/GPU 0 {2}NVIDIA A100-SXM4-40GB {2}GPU-/);
    expect(out).toMatch(/VRAM +\[#+\.+\] 10\.0 GiB \/ 40\.0 GiB used \(0 MiB reserved by the driver\), 30\.0 GiB free/);
    expect(out).toContain('util   gpu 37%, memory bus 0%');
    expect(out).toMatch(/pid 31337 +9\.0 GiB/);
    expect(out).toMatch(/GPU 1 {2}NVIDIA L4[\s\S]*ERROR NVML_ERROR_GPU_IS_LOST/);
  });

  it('on the mock, --json gives the same data', () => {
    const m = mockWithTwoGpus();
    const res = run(['status', '--json'], m.env());
    expect(res.status).toBe(0);
    const { nvml: s } = JSON.parse(res.stdout);
    expect(s.available).toBe(true);
    expect(s.devices[0]).toMatchObject({
      index: 0,
      memory: { totalBytes: 40 * GiB, usedBytes: 10 * GiB },
      utilization: { gpuPercent: 37 },
      processes: [{ pid: 31337, usedBytes: 9 * GiB }],
      error: null,
    });
    expect(s.devices[1].error).toMatchObject({ nvmlReturn: 'NVML_ERROR_GPU_IS_LOST' });
  });

  it('--nvml-lib overrides the environment', () => {
    const m = mockWithTwoGpus();
    const res = run(['status', '--json', '--nvml-lib', m.libraryPath], { MOCK_NVML_STATE: m.statePath });
    expect(JSON.parse(res.stdout).nvml.devices).toHaveLength(2);
  });

  it('refuses unknown flags and commands with exit code 2 and a message naming them', () => {
    const flag = run(['status', '--jsn']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toMatch(/^Unknown option '--jsn'/);
    expect(flag.stderr).toContain('Usage: gpu-arbiter status');
    const cmd = run(['stauts']);
    expect(cmd.status).toBe(2);
    expect(cmd.stderr).toMatch(/unknown command "stauts"/);
  });

  it('prints help', () => {
    const res = run(['status', '--help']);
    expect(res.status).toBe(0);
    expect(res.stdout).toMatch(/^Usage: gpu-arbiter status/);
  });
});
