// The monitor on NVIDIA's real libnvidia-ml.so.1 from four driver branches (fetched by
// scripts/fetch-real-nvml.sh). There is no GPU and no kernel driver here, so each library loads,
// resolves its entry points and then answers nvmlInit with DRIVER_NOT_LOADED: what is checked is
// that the binding resolves what each driver exports, reports that state with the library's path,
// and never crashes, hangs or leaks over repeated create/stop.
import * as fs from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { GpuMonitor } from '../src/gpu/monitor';
import { exportedSymbols, realNvmlOrSkip, removeStrayNvidiaCtl } from './helpers/real-nvml';

const { real, skipReason } = realNvmlOrSkip('test/nvml-real.test.ts');

// The entry point each fallback chain resolves to, per driver branch (issue 16 records these).
const NEWEST = {
  init: 'nvmlInitWithFlags',
  count: 'nvmlDeviceGetCount_v2',
  handle: 'nvmlDeviceGetHandleByIndex_v2',
  memory: 'nvmlDeviceGetMemoryInfo_v2',
  processes: 'nvmlDeviceGetComputeRunningProcesses_v3',
  cudaDriverVersion: 'nvmlSystemGetCudaDriverVersion', // not _v2: that one loads libcuda.so.1
  temperature: 'nvmlDeviceGetTemperature', // nvmlDeviceGetTemperatureV arrived after 535
};
const EXPECTED_API: Record<string, Record<string, string>> = {
  'libnvidia-ml1': NEWEST, // 535
  'libnvidia-tesla-535-ml1': NEWEST,
  'libnvidia-tesla-ml1': NEWEST, // 525
  // 470 has no nvmlDeviceGetMemoryInfo_v2 and no _v3 process list.
  'libnvidia-tesla-470-ml1': { ...NEWEST, memory: 'nvmlDeviceGetMemoryInfo', processes: 'nvmlDeviceGetComputeRunningProcesses_v2' },
};

// Each chain, newest first, as native/nvml/nvml_library.cc walks it.
const CHAINS: Record<string, string[]> = {
  init: ['nvmlInitWithFlags', 'nvmlInit_v2', 'nvmlInit'],
  count: ['nvmlDeviceGetCount_v2', 'nvmlDeviceGetCount'],
  handle: ['nvmlDeviceGetHandleByIndex_v2', 'nvmlDeviceGetHandleByIndex'],
  memory: ['nvmlDeviceGetMemoryInfo_v2', 'nvmlDeviceGetMemoryInfo'],
  processes: ['nvmlDeviceGetComputeRunningProcesses_v3', 'nvmlDeviceGetComputeRunningProcesses_v2', 'nvmlDeviceGetComputeRunningProcesses'],
  cudaDriverVersion: ['nvmlSystemGetCudaDriverVersion', 'nvmlSystemGetCudaDriverVersion_v2'],
  temperature: ['nvmlDeviceGetTemperatureV', 'nvmlDeviceGetTemperature'],
};

const count = (dir: string) => fs.readdirSync(dir).length;

afterAll(removeStrayNvidiaCtl);

describe.skipIf(real === null)(`real NVML libraries${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const libs = real?.libs ?? [];
  const savedEnv = process.env.GPU_ARBITER_NVML_LIB;
  afterEach(() => {
    if (savedEnv === undefined) delete process.env.GPU_ARBITER_NVML_LIB;
    else process.env.GPU_ARBITER_NVML_LIB = savedEnv;
  });

  it('fetched the four driver branches', () => {
    expect(libs.map((l) => l.pkg).sort()).toEqual(Object.keys(EXPECTED_API).sort());
    console.log(`real NVML: ${libs.map((l) => `${l.pkg} ${l.version}`).join(', ')}; header ${real?.header.version}`);
  });

  describe.each(libs)('$pkg $version', (lib) => {
    it('loads through GPU_ARBITER_NVML_LIB and reports DRIVER_NOT_LOADED with the library path', async () => {
      process.env.GPU_ARBITER_NVML_LIB = lib.path;
      const m = await GpuMonitor.create({ intervalMs: 1000 });
      try {
        expect(m.libraryPath).toBe(lib.path);
        const s = m.snapshot();
        expect(s.available).toBe(false);
        expect(s.initError).toBe('NVML_ERROR_DRIVER_NOT_LOADED');
        expect(s.libraryPath).toBe(lib.path);
        expect(s.unavailableReason).toBe(`nvmlInit failed: NVML_ERROR_DRIVER_NOT_LOADED (Driver Not Loaded) (library ${lib.path})`);
        expect(s.devices).toEqual([]);
        expect(s.api).toEqual(EXPECTED_API[lib.pkg]);
        console.log(`real NVML ${lib.pkg} ${lib.version}: ${JSON.stringify(s.api)}`);
      } finally {
        await m.stop();
      }
    });

    it('resolves the newest entry point of each chain that the library exports', async (ctx) => {
      const exported = exportedSymbols(lib.path);
      if (exported === null) ctx.skip("binutils' nm is not installed, so the library's exports cannot be listed");
      const m = await GpuMonitor.create({ libraryPath: lib.path, intervalMs: 1000 });
      const api = m.snapshot().api;
      await m.stop();
      for (const [key, chain] of Object.entries(CHAINS)) {
        expect([key, api[key]]).toEqual([key, chain.find((name) => exported!.has(name))]);
      }
    });

    it('leaks no file descriptor or thread over repeated create/stop, and never hangs', async () => {
      const cycle = async () => {
        const t0 = Date.now();
        const m = await GpuMonitor.create({ libraryPath: lib.path, intervalMs: 1000 });
        expect(m.snapshot().initError).toBe('NVML_ERROR_DRIVER_NOT_LOADED');
        await m.sampleNow(); // a retry of the init, as a running monitor does
        await m.stop();
        expect(Date.now() - t0).toBeLessThan(5000);
      };
      await cycle(); // warm: libuv's threadpool and the addon are started once, for good
      await fs.promises.readdir('/proc/self/fd');
      const before = { fds: count('/proc/self/fd'), threads: count('/proc/self/task') };
      for (let i = 0; i < 10; i++) await cycle();
      expect({ fds: count('/proc/self/fd'), threads: count('/proc/self/task') }).toEqual(before);
    });
  });
});
