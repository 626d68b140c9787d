// NVML failures reach JS with their names; one bad GPU does not hide the others.
import { describe, expect, it } from 'vitest';
import { GpuMonitor } from '../src/gpu/monitor';
import type { DeviceErrorEvent } from '../src/gpu/monitor';
import { GiB, defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { waitFor } from './helpers/wait';

const fixture = useMockMonitor();

describe('NVML errors', () => {
  it('a failed init leaves the monitor unavailable with the NVML name in the reason', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0)], fail: { nvmlInitWithFlags: 9 } });
    expect(m.available).toBe(false);
    expect(m.snapshot().initError).toBe('NVML_ERROR_DRIVER_NOT_LOADED');
    expect(m.unavailableReason).toMatch(/^nvmlInit failed: NVML_ERROR_DRIVER_NOT_LOADED/);
    expect(m.devices()).toEqual([]);
    // Which library answered stays visible (issue 16, defect 7), in the reason too.
    expect(m.snapshot().libraryPath).toBe(fixture.nvml.libraryPath);
    expect(m.unavailableReason).toContain(`(library ${fixture.nvml.libraryPath})`);
    expect(m.snapshot().api.init).toBe('nvmlInitWithFlags');
  });

  it('a missing library is a reported state, not a crash', async () => {
    const m = await GpuMonitor.create({ libraryPath: '/nonexistent/libnvidia-ml.so.1' });
    try {
      expect(m.available).toBe(false);
      expect(m.unavailableReason).toMatch(/^\/nonexistent\/libnvidia-ml\.so\.1 not found: /);
      // A later sample retries and still reports, still without throwing.
      const again = await m.sampleNow();
      expect(again.available).toBe(false);
    } finally {
      await m.stop();
    }
  });

  it('a per-field error nulls that field only and names the NVML return', async () => {
    const m = await fixture.open({
      devices: [defaultDevice(0, { utilGpu: 50 })],
      fail: { nvmlDeviceGetUtilizationRates: 4, 'nvmlDeviceGetTemperatureV.0': 3 },
    });
    const d = m.devices()[0];
    expect(d.utilization).toBeNull();
    expect(d.temperatureC).toBeNull();
    expect(d.fieldErrors).toEqual({
      utilization: 'NVML_ERROR_NO_PERMISSION',
      temperature: 'NVML_ERROR_NOT_SUPPORTED',
    });
    expect(d.memory?.totalBytes).toBe(40 * GiB);
    expect(d.error).toBeNull();
  });

  it('a lost GPU is marked lost while the others stay readable; loss and recovery are events', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0), defaultDevice(1), defaultDevice(2)] });
    const errors: DeviceErrorEvent[] = [];
    const recoveries: DeviceErrorEvent[] = [];
    m.on('device-error', (e) => errors.push(e));
    m.on('device-recovered', (e) => recoveries.push(e));

    fixture.nvml.update((s) => {
      s.fail = { 'nvmlDeviceGetMemoryInfo_v2.1': 15 };
      s.devices[2].memoryUsed = 5 * GiB;
    });
    const s = await m.sampleNow();
    expect(s.devices.map((d) => d.error?.nvmlReturn ?? null)).toEqual([null, 'NVML_ERROR_GPU_IS_LOST', null]);
    expect(s.devices[1].error).toMatchObject({ code: 'E_NVML', nvmlReturn: 'NVML_ERROR_GPU_IS_LOST' });
    expect(s.devices[1].error?.message).toMatch(/GPU 1: nvmlDeviceGetMemoryInfo returned NVML_ERROR_GPU_IS_LOST/);
    expect(s.devices[2].memory?.usedBytes).toBe(5 * GiB);
    expect(s.devices[0].memory?.totalBytes).toBe(40 * GiB);
    await waitFor(() => errors.length > 0, 'a device-error event');
    expect(errors[0].device.index).toBe(1);
    expect(errors[0].previous).toBeNull();

    fixture.nvml.update((s2) => {
      s2.fail = {};
    });
    await waitFor(() => recoveries.length > 0, 'a device-recovered event');
    expect(recoveries[0].device.index).toBe(1);
    expect(m.devices()[1].error).toBeNull();
    expect(errors).toHaveLength(1); // the loss is reported once, not on every sample
  });

  it('a device whose handle cannot be had is an error on that device alone', async () => {
    const m = await fixture.open({
      devices: [defaultDevice(0), defaultDevice(1)],
      fail: { 'nvmlDeviceGetHandleByIndex_v2.0': 15 },
    });
    const [d0, d1] = m.devices();
    expect(d0.error?.nvmlReturn).toBe('NVML_ERROR_GPU_IS_LOST');
    expect(d0.name).toBeNull();
    expect(d1.error).toBeNull();
    expect(d1.name).toBe('NVIDIA A100-SXM4-40GB');
  });

  it('a failing device count makes NVML unavailable with the reason', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0)], fail: { nvmlDeviceGetCount_v2: 999 } });
    expect(m.available).toBe(false);
    expect(m.unavailableReason).toBe('nvmlDeviceGetCount failed: NVML_ERROR_UNKNOWN');
  });
});
