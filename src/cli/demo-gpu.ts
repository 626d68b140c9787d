// The GPU the demo runs on. Preferred: the real GpuMonitor (native sampler thread, NVML binding)
// over the mock libnvidia-ml from native/mock-nvml, driven by a state file the demo
// rewrites, so the demo exercises the same path a real GPU would. That needs a clone of the
// repository (the fixture is not in the npm package) and a C compiler; otherwise the demo says
// so and uses SimulatedGpu, which hands the arbiter the same snapshot shape without NVML.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { GpuView } from '../gpu/view';
import { GpuMonitor } from '../gpu/monitor';
import { SimulatedGpu } from '../gpu/simulated';

const MiB = 1024 * 1024;
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

/** One GPU whose memory and processes the demo sets. */
export interface DemoGpu {
  view: GpuView;
  /** What the GPU is, in words (printed by the demo). */
  description: string;
  /** Sets used memory and processes (MiB); the view reports it at its next sample. */
  set(state: { processes: Array<{ pid: number; usedMiB: number }>; gpuPercent: number }): void;
  close(): Promise<void>;
}

export interface DemoGpuOptions {
  totalMiB: number;
  name: string;
  /** Skip the mock NVML even where it could be built. */
  simulated?: boolean;
  sampleMs: number;
}

/** Opens the mock NVML where possible, else a SimulatedGpu; never throws for a missing compiler. */
export async function openDemoGpu(o: DemoGpuOptions): Promise<DemoGpu> {
  if (!o.simulated) {
    const why = await tryMockNvml(o);
    if (typeof why !== 'string') return why;
    return simulated(o, `simulated GPU (SimulatedGpu, no NVML: ${why})`);
  }
  return simulated(o, 'simulated GPU (SimulatedGpu, no NVML: --simulated)');
}

function simulated(o: DemoGpuOptions, description: string): DemoGpu {
  const gpu = new SimulatedGpu([{ totalMiB: o.totalMiB, name: o.name, processes: [] }]);
  gpu.start(o.sampleMs);
  return {
    view: gpu,
    description,
    set: (s) => gpu.setDevice(0, { processes: s.processes, gpuPercent: s.gpuPercent }),
    close: async () => gpu.stop(),
  };
}

/** The mock library built where the test suite builds it (build/mock-nvml/full). */
function buildMockLibrary(): string {
  const source = path.join(PACKAGE_ROOT, 'native', 'mock-nvml', 'mock_nvml.c');
  if (!fs.existsSync(source)) throw new Error('the mock NVML source (native/mock-nvml) is not here; reinstall the package');
  const lib = path.join(PACKAGE_ROOT, 'build', 'mock-nvml', 'full', 'libnvidia-ml.so.1');
  if (fs.existsSync(lib) && fs.statSync(lib).mtimeMs >= fs.statSync(source).mtimeMs) return lib;
  fs.mkdirSync(path.dirname(lib), { recursive: true });
  const tmp = `${lib}.tmp-${process.pid}`;
  try {
    execFileSync('cc', ['-std=c11', '-O2', '-shared', '-fPIC', '-pthread', '-Wl,-soname,libnvidia-ml.so.1', '-o', tmp, source], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    fs.renameSync(tmp, lib);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`cannot build the mock NVML with cc: ${(err as Error).message.split('\n')[0]}`);
  }
  return lib;
}

async function tryMockNvml(o: DemoGpuOptions): Promise<DemoGpu | string> {
  let lib: string;
  try {
    lib = buildMockLibrary();
  } catch (err) {
    return (err as Error).message;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-demo-'));
  const statePath = path.join(dir, 'nvml-state.conf');
  let seq = 0;
  const write = (processes: Array<{ pid: number; usedMiB: number }>, gpuPercent: number): void => {
    const used = processes.reduce((sum, p) => sum + p.usedMiB, 0);
    const body = [
      'driver_version=550.54.15',
      'device_count=1',
      `device.0.name=${o.name}`,
      'device.0.uuid=GPU-de300000-0000-4000-8000-000000000000',
      `device.0.memory_total=${o.totalMiB * MiB}`,
      `device.0.memory_used=${Math.min(used, o.totalMiB) * MiB}`,
      'device.0.memory_reserved=0',
      `device.0.util_gpu=${Math.round(gpuPercent)}`,
      // Temperature and power follow the load, so the dashboard (demo --dashboard) has them to show.
      `device.0.temperature=${Math.round(38 + gpuPercent * 0.4)}`,
      `device.0.power_mw=${Math.round(55_000 + gpuPercent * 2_200)}`,
      'device.0.power_limit_mw=300000',
      'device.0.util_memory=0',
      `device.0.processes=${processes.map((p) => `${p.pid}:${p.usedMiB * MiB}`).join(',')}`,
      '',
    ].join('\n');
    // Atomic replace: the library re-reads the file on every NVML call.
    const tmp = `${statePath}.${++seq}`;
    fs.writeFileSync(tmp, body);
    fs.renameSync(tmp, statePath);
  };
  write([], 0);
  const saved = process.env.MOCK_NVML_STATE;
  process.env.MOCK_NVML_STATE = statePath;
  const restore = (): void => {
    if (saved === undefined) delete process.env.MOCK_NVML_STATE;
    else process.env.MOCK_NVML_STATE = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const monitor = await GpuMonitor.create({ libraryPath: lib, intervalMs: o.sampleMs });
    if (!monitor.available) {
      await monitor.stop();
      restore();
      return `the mock NVML did not initialise: ${monitor.unavailableReason}`;
    }
    return {
      view: monitor,
      description: `mock NVML (${path.relative(PACKAGE_ROOT, lib)}, through the native sampler; state file ${statePath})`,
      set: (s) => write(s.processes, s.gpuPercent),
      close: async () => {
        await monitor.stop();
        restore();
      },
    };
  } catch (err) {
    restore();
    return `the native addon could not open the mock NVML: ${(err as Error).message}`;
  }
}
