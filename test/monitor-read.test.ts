// The monitor reads what NVML reports: devices, memory, utilisation, processes, versions.
import { describe, expect, it } from 'vitest';
import { GiB, MiB, defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { waitFor } from './helpers/wait';

const fixture = useMockMonitor();
const open = fixture.open;

describe('GpuMonitor on the mock NVML', () => {
  it('reads devices, memory, utilisation, temperature, power and processes', async () => {
    const m = await open({
      driverVersion: '550.54.15',
      nvmlVersion: '12.550.54.15',
      cudaDriverVersion: 12040,
      devices: [
        defaultDevice(0, {
          memoryTotal: 16 * GiB,
          memoryUsed: 10 * GiB,
          memoryReserved: 300 * MiB,
          utilGpu: 45,
          utilMemory: 20,
          temperature: 61,
          powerMw: 123_500,
          processes: [
            { pid: 4242, usedBytes: 8 * GiB },
            { pid: 4343, usedBytes: null },
          ],
        }),
        defaultDevice(1, { name: 'NVIDIA L4', memoryTotal: 24 * GiB }),
      ],
    });
    const s = m.snapshot();
    expect(m.available).toBe(true);
    expect(m.unavailableReason).toBeNull();
    expect(s.driverVersion).toBe('550.54.15');
    expect(s.nvmlVersion).toBe('12.550.54.15');
    expect(s.cudaDriverVersion).toBe(12040);
    expect(s.libraryPath).toBe(fixture.nvml.libraryPath);
    expect(s.api).toMatchObject({
      init: 'nvmlInitWithFlags',
      count: 'nvmlDeviceGetCount_v2',
      handle: 'nvmlDeviceGetHandleByIndex_v2',
      memory: 'nvmlDeviceGetMemoryInfo_v2',
      processes: 'nvmlDeviceGetComputeRunningProcesses_v3',
      temperature: 'nvmlDeviceGetTemperatureV',
      cudaDriverVersion: 'nvmlSystemGetCudaDriverVersion',
    });
    expect(s.devices).toHaveLength(2);
    const [d0, d1] = s.devices;
    expect(d0.name).toBe('NVIDIA A100-SXM4-40GB');
    expect(d0.uuid).toMatch(/^GPU-/);
    expect(d0.memory).toEqual({
      totalBytes: 16 * GiB,
      usedBytes: 10 * GiB + 300 * MiB, // allocated + driver-reserved, as v1 counts it
      reservedBytes: 300 * MiB,
      freeBytes: 16 * GiB - 10 * GiB - 300 * MiB,
    });
    expect(d0.utilization).toEqual({ gpuPercent: 45, memoryPercent: 20 });
    expect(d0.temperatureC).toBe(61);
    expect(d0.powerW).toBeCloseTo(123.5);
    expect(d0.powerLimitW).toBe(400);
    expect(d0.persistenceMode).toBe(true);
    expect(d0.migMode).toBe(false);
    expect(d0.processes).toEqual([
      { pid: 4242, usedBytes: 8 * GiB },
      { pid: 4343, usedBytes: null }, // NVML_VALUE_NOT_AVAILABLE is unknown, not 0
    ]);
    expect(d0.error).toBeNull();
    expect(d0.fieldErrors).toEqual({});
    expect(d1.name).toBe('NVIDIA L4');
    expect(d1.processes).toEqual([]);
    expect(Object.isFrozen(s.devices[0].memory)).toBe(true);
  });

  it('reports unsupported fields as null with the NVML reason, never 0 (MIG-like GPU)', async () => {
    const m = await open({
      devices: [{ name: 'NVIDIA A100 MIG 3g.20gb', uuid: 'MIG-1', memoryTotal: 20 * GiB, memoryUsed: GiB, mig: true }],
    });
    const d = m.devices()[0];
    expect(d.memory?.totalBytes).toBe(20 * GiB);
    expect(d.utilization).toBeNull();
    expect(d.processes).toBeNull();
    expect(d.temperatureC).toBeNull();
    expect(d.powerW).toBeNull();
    expect(d.migMode).toBe(true);
    expect(d.fieldErrors).toMatchObject({
      utilization: 'NVML_ERROR_NOT_SUPPORTED',
      processes: 'NVML_ERROR_NOT_SUPPORTED',
      temperature: 'NVML_ERROR_NOT_SUPPORTED',
    });
    expect(d.error).toBeNull();
  });

  it('sees state changes: sampleNow() at once, and the sampler thread on its own', async () => {
    const m = await open({ devices: [defaultDevice(0, { memoryUsed: 1 * GiB })] });
    fixture.nvml.update((s) => {
      s.devices[0].memoryUsed = 7 * GiB;
    });
    const fresh = await m.sampleNow();
    expect(fresh.devices[0].memory?.usedBytes).toBe(7 * GiB);

    const seen: number[] = [];
    m.on('sample', (s) => seen.push(s.devices[0]?.memory?.usedBytes ?? -1));
    fixture.nvml.update((s) => {
      s.devices[0].memoryUsed = 3 * GiB;
      s.devices[0].processes = [{ pid: 777, usedBytes: 3 * GiB }];
    });
    // No call from the test: the 50 ms sampler picks the change up and emits 'sample'.
    await waitFor(() => seen.includes(3 * GiB), "a 'sample' event with the new memory");
    expect(m.devices()[0].processes).toEqual([{ pid: 777, usedBytes: 3 * GiB }]);
    expect(m.snapshot().seq).toBeGreaterThan(fresh.seq);
  });

  it('gives each process list call enough room when the list is long', async () => {
    const processes = Array.from({ length: 100 }, (_, i) => ({ pid: 1000 + i, usedBytes: (i + 1) * MiB }));
    const m = await open({ devices: [defaultDevice(0, { processes })] });
    expect(m.devices()[0].processes).toEqual(processes);
  });
});
