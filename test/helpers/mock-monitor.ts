// A GpuMonitor over the mock NVML, torn down after each test of the file that uses it.
import { afterEach } from 'vitest';
import { GpuMonitor, type GpuMonitorOptions } from '../../src/gpu/monitor';
import { MockNvml, type MockNvmlState, type MockNvmlVariant } from './mock-nvml';

export interface MockMonitorFixture {
  /** Writes `state`, points NVML at the mock and starts a monitor (50 ms interval by default). */
  open(state: MockNvmlState, variant?: MockNvmlVariant, options?: GpuMonitorOptions): Promise<GpuMonitor>;
  /** The mock of the current test. */
  readonly nvml: MockNvml;
}

export function useMockMonitor(): MockMonitorFixture {
  let nvml: MockNvml | undefined;
  let monitor: GpuMonitor | undefined;
  let restoreEnv: (() => void) | undefined;

  afterEach(async () => {
    await monitor?.stop();
    restoreEnv?.();
    nvml?.cleanup();
    monitor = undefined;
    nvml = undefined;
    restoreEnv = undefined;
  });

  return {
    async open(state, variant, options) {
      nvml = MockNvml.create(state, variant);
      restoreEnv = nvml.apply(); // the mock reads MOCK_NVML_STATE on every call
      monitor = await GpuMonitor.create({ libraryPath: nvml.libraryPath, intervalMs: 50, ...options });
      return monitor;
    },
    get nvml() {
      if (!nvml) throw new Error('call open() first');
      return nvml;
    },
  };
}
