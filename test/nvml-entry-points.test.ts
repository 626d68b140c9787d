import { describe, expect, it } from 'vitest';
import { defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { useCallLog } from './helpers/call-log';

const fixture = useMockMonitor();
const callLog = useCallLog();

describe('CUDA driver version (defect 4)', () => {
  it('comes from nvmlSystemGetCudaDriverVersion; _v2, which loads libcuda.so.1, is never called', async () => {
    // Where libcuda.so.1 is absent (a utility-only container) _v2 answers LIBRARY_NOT_FOUND.
    const m = await fixture.open({
      cudaDriverVersion: 12040,
      devices: [defaultDevice(0)],
      fail: { nvmlSystemGetCudaDriverVersion_v2: 12 },
      callLog: callLog(),
    });
    await m.sampleNow();
    expect(m.snapshot().cudaDriverVersion).toBe(12040);
    expect(m.snapshot().api.cudaDriverVersion).toBe('nvmlSystemGetCudaDriverVersion');
    expect(fixture.nvml.callLogLines()).toContain('nvmlSystemGetCudaDriverVersion');
    expect(fixture.nvml.callLogLines()).not.toContain('nvmlSystemGetCudaDriverVersion_v2');
  });
});

describe('temperature (defect 6)', () => {
  const T = 'nvmlDeviceGetTemperatureV';

  it('is read through nvmlDeviceGetTemperatureV where the driver exports it', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0, { temperature: 67 })], callLog: callLog() });
    expect(m.devices()[0].temperatureC).toBe(67);
    expect(m.snapshot().api.temperature).toBe(T);
    expect(fixture.nvml.callLogLines()).not.toContain('nvmlDeviceGetTemperature');
  });

  it('falls back to nvmlDeviceGetTemperature on a driver without it', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0, { temperature: 55 })] }, 'noProcV3');
    expect(m.devices()[0].temperatureC).toBe(55);
    expect(m.snapshot().api.temperature).toBe('nvmlDeviceGetTemperature');
  });

  it('falls back for good when the driver refuses its struct version', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0, { temperature: 48 })], fail: { [T]: 25 }, callLog: callLog() });
    await m.sampleNow();
    expect(m.devices()[0].temperatureC).toBe(48);
    expect(m.snapshot().api.temperature).toBe('nvmlDeviceGetTemperature');
    expect(fixture.nvml.callLogLines().filter((c) => c === T)).toHaveLength(1);
  });

  it('a lost GPU seen by nvmlDeviceGetTemperatureV names that call', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0)], fail: { [T]: 15 } });
    expect(m.devices()[0].error?.message).toBe(`GPU 0: ${T} returned NVML_ERROR_GPU_IS_LOST`);
  });
});

describe("the newest header's return codes reach users by name (defect 3)", () => {
  it('22 and 30 are named as NVIDIA names them', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0)], fail: { nvmlDeviceGetUtilizationRates: 22, nvmlDeviceGetPowerUsage: 30 } });
    expect(m.devices()[0].fieldErrors).toEqual({
      utilization: 'NVML_ERROR_VGPU_ECC_NOT_SUPPORTED',
      power: 'NVML_ERROR_RESET_TYPE_NOT_SUPPORTED',
    });
  });

  it("an init failing with code 30 carries the name and the library's own text", async () => {
    const m = await fixture.open({ devices: [defaultDevice(0)], fail: { nvmlInitWithFlags: 30 } });
    expect(m.snapshot().initError).toBe('NVML_ERROR_RESET_TYPE_NOT_SUPPORTED');
    expect(m.unavailableReason).toMatch(/^nvmlInit failed: NVML_ERROR_RESET_TYPE_NOT_SUPPORTED \(Reset type not supported\)/);
  });
});
