// Versioned entry points: the binding walks NVML's fallback chains newest-first.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GiB, MiB, defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { useCallLog } from './helpers/call-log';

const fixture = useMockMonitor();
const callLog = useCallLog();
const twoProcesses = [
  { pid: 101, usedBytes: 2 * GiB },
  { pid: 202, usedBytes: 512 * MiB },
];

describe('NVML fallback chains', () => {
  it('without _v3 the process list comes from _v2', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0, { processes: twoProcesses })] }, 'noProcV3');
    expect(m.snapshot().api.processes).toBe('nvmlDeviceGetComputeRunningProcesses_v2');
    expect(m.devices()[0].processes).toEqual(twoProcesses);
  });

  it('an old driver with only unversioned symbols is read through them', async () => {
    const m = await fixture.open(
      { devices: [defaultDevice(0, { memoryTotal: 16 * GiB, memoryUsed: 4 * GiB, memoryReserved: GiB, processes: twoProcesses })] },
      'legacy',
    );
    const s = m.snapshot();
    expect(s.api).toMatchObject({
      init: 'nvmlInit',
      count: 'nvmlDeviceGetCount',
      handle: 'nvmlDeviceGetHandleByIndex',
      memory: 'nvmlDeviceGetMemoryInfo',
      processes: 'nvmlDeviceGetComputeRunningProcesses',
      cudaDriverVersion: 'nvmlSystemGetCudaDriverVersion',
      temperature: 'nvmlDeviceGetTemperature',
    });
    // v1 memory has no `reserved` of its own (unknown); its used includes it, free = total - used.
    expect(s.devices[0].memory).toEqual({ totalBytes: 16 * GiB, usedBytes: 5 * GiB, freeBytes: 11 * GiB, reservedBytes: null });
    expect(s.devices[0].processes).toEqual(twoProcesses);
  });

  it('memory _v2 refused with ARGUMENT_VERSION_MISMATCH falls back to v1', async () => {
    const m = await fixture.open({
      devices: [defaultDevice(0, { memoryTotal: 8 * GiB, memoryUsed: GiB })],
      fail: { nvmlDeviceGetMemoryInfo_v2: 25 },
    });
    expect(m.snapshot().api.memory).toBe('nvmlDeviceGetMemoryInfo');
    expect(m.devices()[0].memory).toMatchObject({ totalBytes: 8 * GiB, usedBytes: GiB, reservedBytes: null });
    expect(m.devices()[0].fieldErrors).toEqual({});
  });

  it('_v3 entries of the wrong size, on a driver whose version does not say so, are detected and _v2 is used', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0, { processes: twoProcesses })], procV3Stride: 32 });
    expect(m.snapshot().api.processes).toBe('nvmlDeviceGetComputeRunningProcesses_v2');
    expect(m.devices()[0].processes).toEqual(twoProcesses);
  });

  it('calls the newest entry point first and sticks to the fallback once chosen', async () => {
    const log = callLog();
    const m = await fixture.open({ devices: [defaultDevice(0, { processes: twoProcesses })], procV3Stride: 32, callLog: log });
    await m.sampleNow();
    await m.sampleNow();
    const calls = fs.readFileSync(log, 'utf8').trim().split('\n');
    const v3 = calls.filter((c) => c === 'nvmlDeviceGetComputeRunningProcesses_v3').length;
    expect(calls.indexOf('nvmlDeviceGetComputeRunningProcesses_v3')).toBeLessThan(calls.indexOf('nvmlDeviceGetComputeRunningProcesses_v2'));
    // _v3 was tried in the first pass only (sizing call + reading call), never again.
    expect(v3).toBe(2);
    fs.rmSync(path.dirname(log), { recursive: true, force: true });
  });
});
