// What a user is told when NVIDIA's real library loads but no kernel driver is there (the
// commonest failure on a GPU host after a kernel update, and in a container started without the
// NVIDIA runtime): `status`, `status --json`, `doctor`, and an arbiter's acquire() and health()
// name the library and say that the driver, not the library, is what to fix.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { runDoctor } from '../src/doctor/doctor';
import { GpuMonitor } from '../src/gpu/monitor';
import { realNvmlOrSkip, removeStrayNvidiaCtl } from './helpers/real-nvml';

const { real, skipReason } = realNvmlOrSkip('test/nvml-real-report.test.ts');
const cli = path.resolve(__dirname, '../dist/cli/main.js');

function status(args: string[], lib: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, GPU_ARBITER_NVML_LIB: lib };
  delete env.MOCK_NVML_STATE;
  return spawnSync(process.execPath, [cli, 'status', ...args, '--host-namespace', 'gpu-arbiter-nvml-real-none'], {
    env,
    encoding: 'utf8',
    timeout: 20_000,
  });
}

afterAll(removeStrayNvidiaCtl);

describe.skipIf(real === null)(`reports on real NVML libraries${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  describe.each(real?.libs ?? [])('$pkg $version', (lib) => {
    it('status names the library, the cause and the fix', () => {
      const res = status([], lib.path);
      expect(res.status, res.stderr).toBe(0);
      expect(res.stdout).toContain(`NVML: not available - nvmlInit failed: NVML_ERROR_DRIVER_NOT_LOADED (Driver Not Loaded) (library ${lib.path})`);
      expect(res.stdout).toContain(`  library: ${lib.path}\n`);
      expect(res.stdout).toMatch(/ {2}cause: {3}.* loaded, but the NVIDIA kernel driver is not loaded/);
      expect(res.stdout).toMatch(/ {2}fix: {5}load the NVIDIA kernel driver .*GPU_ARBITER_NVML_LIB does not help/);
    });

    it('status --json carries the library path, the NVML return and the diagnosis', () => {
      const res = status(['--json'], lib.path);
      expect(res.status, res.stderr).toBe(0);
      const report = JSON.parse(res.stdout);
      expect(report.nvml).toMatchObject({ available: false, initError: 'NVML_ERROR_DRIVER_NOT_LOADED', libraryPath: lib.path, devices: [] });
      expect(report.nvml.api.init).toBe('nvmlInitWithFlags');
      expect(report.nvmlProblem.cause).toContain(`${lib.path} loaded, but the NVIDIA kernel driver is not loaded`);
      expect(report.nvmlProblem.fix).toMatch(/^load the NVIDIA kernel driver/);
    });

    it('doctor warns with the driver fix, not a library path to set', async () => {
      const report = await runDoctor({ libraryPath: lib.path, hostNamespaces: [] });
      const nvml = report.checks.find((c) => c.id === 'nvml');
      expect(nvml?.verdict).toBe('WARN');
      expect(nvml?.detail).toBe(
        `NVML not available: ${lib.path} loaded, but the NVIDIA kernel driver is not loaded ` +
          `(nvmlInit failed: NVML_ERROR_DRIVER_NOT_LOADED (Driver Not Loaded) (library ${lib.path}))`,
      );
      expect(nvml?.fix).toMatch(/^load the NVIDIA kernel driver/);
      expect(nvml?.fix).not.toMatch(/set GPU_ARBITER_NVML_LIB/);
    });

    it("an arbiter's acquire() is refused with the reason, and health() is down", async () => {
      const monitor = await GpuMonitor.create({ libraryPath: lib.path, intervalMs: 1000 });
      const arbiter = await GpuArbiter.create({ monitor, policies: { ASR: { priority: 50, vramMiB: 1024 } } });
      try {
        await expect(arbiter.acquire('ASR')).rejects.toMatchObject({
          code: 'E_NO_DEVICE',
          message: expect.stringContaining(`NVML unavailable (nvmlInit failed: NVML_ERROR_DRIVER_NOT_LOADED (Driver Not Loaded) (library ${lib.path}))`),
        });
        const health = arbiter.health();
        expect(health.status).toBe('down');
        expect(health.checks.find((c) => c.name === 'gpus')).toMatchObject({ status: 'down', detail: expect.stringMatching(/^no GPU to admit on/) });
      } finally {
        await arbiter.close();
        await monitor.stop();
      }
    });
  });
});
