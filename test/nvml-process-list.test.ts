import { describe, expect, it } from 'vitest';
import { GiB, MiB, defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { useCallLog } from './helpers/call-log';

const fixture = useMockMonitor();
const twoProcesses = [
  { pid: 101, usedBytes: 2 * GiB },
  { pid: 202, usedBytes: 512 * MiB },
];
const V3 = 'nvmlDeviceGetComputeRunningProcesses_v3';
const V2 = 'nvmlDeviceGetComputeRunningProcesses_v2';
const V1 = 'nvmlDeviceGetComputeRunningProcesses';

const callLog = useCallLog();

describe('process list: per-attempt decisions (issue 16, defect 2)', () => {
  it('a _v2 error after _v3 was rejected is reported, and _v2 answers again once it passes', async () => {
    // _v3 misreads (32-byte entries, no driver version to go by) and is given up; then _v2 is
    // refused once with NO_PERMISSION.
    const m = await fixture.open({
      devices: [defaultDevice(0, { processes: twoProcesses })],
      procV3Stride: 32,
      fail: { [V2]: 4 },
      callLog: callLog(),
    });
    const d = m.devices()[0];
    expect(d.processes).toBeNull();
    expect(d.fieldErrors.processes).toBe('NVML_ERROR_NO_PERMISSION');
    expect(m.snapshot().api.processes).toBe(V2);

    fixture.nvml.update((s) => {
      s.fail = {};
    });
    const s = await m.sampleNow();
    expect(s.devices[0].processes).toEqual(twoProcesses);
    expect(s.api.processes).toBe(V2); // not demoted to the plain call for good
    expect(fixture.nvml.callLogLines()).not.toContain(V1);
  });

  it('a passing _v3 error is reported and _v3 is asked again next time', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0, { processes: twoProcesses })], fail: { [V3]: 4 }, callLog: callLog() });
    expect(m.devices()[0].fieldErrors.processes).toBe('NVML_ERROR_NO_PERMISSION');
    expect(m.snapshot().api.processes).toBe(V3);
    fixture.nvml.update((s) => {
      s.fail = {};
    });
    const s = await m.sampleNow();
    expect(s.devices[0].processes).toEqual(twoProcesses);
    expect(s.api.processes).toBe(V3);
    // _v3's answer was the sample's answer: no older entry point was asked in its place.
    expect(fixture.nvml.callLogLines().filter((c) => c === V2 || c === V1)).toEqual([]);
  });

  it('a device-wide error from the process list still marks the device', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0, { processes: twoProcesses })], fail: { [V3]: 15 } });
    expect(m.devices()[0].error?.nvmlReturn).toBe('NVML_ERROR_GPU_IS_LOST');
  });

  it('_v2 refused for its struct version is given up, then the plain call answers', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0, { processes: twoProcesses })], fail: { [V2]: 25 }, callLog: callLog() }, 'noProcV3');
    expect(m.snapshot().api.processes).toBe(V1);
    expect(m.devices()[0].processes).toEqual(twoProcesses);
    await m.sampleNow();
    // Given up for good: asked in the first pass only.
    expect(fixture.nvml.callLogLines().filter((c) => c === V2)).toHaveLength(1);
  });
});

describe('_v3 on drivers 535.43-535.86: 32-byte entries (issue 16, defect 1)', () => {
  // With confidential computing on, usedGpuCcProtectedMemory (offset 24) can read as a pid when
  // entries are taken 24 bytes apart: 4096 bytes of protected memory makes the second entry
  // {pid 4096, usedBytes 202}, which no plausibility check can tell from a real process.
  it.each(['535.43.02', '535.54.03', '535.86.10'])('driver %s: read 32 bytes apart, right even where a misread looks plausible', async (driverVersion) => {
    const m = await fixture.open({ driverVersion, devices: [defaultDevice(0, { processes: twoProcesses })], procV3Stride: 32, ccProtectedMemory: 4096 });
    expect(m.snapshot().api).toMatchObject({ processes: V3, processesEntryBytes: '32' });
    expect(m.devices()[0].processes).toEqual(twoProcesses);
  });

  it.each(['535.104.05', '535.42.99', '550.54.15', '470.256.02'])('driver %s: 24-byte entries, as NVIDIA declares them', async (driverVersion) => {
    const m = await fixture.open({ driverVersion, devices: [defaultDevice(0, { processes: twoProcesses })] });
    expect(m.snapshot().api.processes).toBe(V3);
    expect(m.snapshot().api.processesEntryBytes).toBeUndefined();
    expect(m.devices()[0].processes).toEqual(twoProcesses);
  });

  it('one process on a 535.54 driver reads the same either way, and stays on _v3', async () => {
    const one = [{ pid: 4242, usedBytes: 3 * GiB }];
    const m = await fixture.open({ driverVersion: '535.54.03', devices: [defaultDevice(0, { processes: one })], procV3Stride: 32 });
    expect(m.devices()[0].processes).toEqual(one);
    expect(m.snapshot().api.processes).toBe(V3);
  });
});
