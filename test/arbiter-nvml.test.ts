// The arbiter over the real GpuMonitor and the mock libnvidia-ml (state file changed mid-run):
// the must-hold admission points end to end, through the native sampler thread.
import { describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { LocalBackend } from '../src/backends/local/backend';
import { defaultDevice, GiB, MockNvml } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { samples, waitFor } from './helpers/wait';
import { state } from './helpers/fake-monitor';
import type { GpuMonitor } from '../src/gpu/monitor';
import { closeAfterEach } from './helpers/close-after-each';

const OUTSIDER = 777;
const mock = useMockMonitor();
const arbiters = closeAfterEach<GpuArbiter>();

const policies = {
  BIG: { priority: 50, vramMiB: 8 * 1024 },
  MID: { priority: 50, vramMiB: 5 * 1024 },
  FOUR: { priority: 50, vramMiB: 4 * 1024 },
};

/** The monitor of the current test's arbiter. */
let monitor: GpuMonitor;

async function arbiterOn(devices: Parameters<typeof defaultDevice>[1][], extra: object = {}): Promise<GpuArbiter> {
  monitor = await mock.open({ devices: devices.map((d, i) => defaultDevice(i, d)) });
  const a = await GpuArbiter.create({ monitor, policies, ...extra });
  arbiters.push(a);
  return a;
}

/** The state of `p` once the arbiter has applied the monitor's next sample (not after a fixed time). */
async function stateAfterSample<T>(m: GpuMonitor, p: Promise<T>): Promise<string> {
  await samples(m, 1);
  return state(p);
}

describe('arbiter over the mock NVML', () => {
  it('16 GiB GPU, 10 GiB used by an outside process: 8 GiB is not admitted, 5 GiB is (default maxFraction)', async () => {
    const a = await arbiterOn([{ memoryTotal: 16 * GiB, memoryUsed: 10 * GiB, processes: [{ pid: OUTSIDER, usedBytes: 10 * GiB }] }]);
    await expect(a.acquire('BIG', { maxWaitMs: 0 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    const lease = await a.acquire('MID', { maxWaitMs: 0 });
    expect(lease.env.CUDA_VISIBLE_DEVICES).toMatch(/^GPU-/);
    await lease.release();
  });

  it('an outside process freeing memory (state file change) lets a waiter in on the next sample', async () => {
    const a = await arbiterOn([{ memoryTotal: 16 * GiB, memoryUsed: 10 * GiB, processes: [{ pid: OUTSIDER, usedBytes: 10 * GiB }] }]);
    const waiter = a.acquire('BIG');
    expect(await stateAfterSample(monitor, waiter)).toBe('pending');
    mock.nvml.update((s) => {
      s.devices[0]!.memoryUsed = 2 * GiB;
      s.devices[0]!.processes = [{ pid: OUTSIDER, usedBytes: 2 * GiB }];
    });
    const lease = await waiter; // no call from the test: the monitor's next sample admits it
    expect(lease.vramMiB).toBe(8 * 1024);
    await lease.release();
  });

  it('two arbiters on one ledger, 4 GiB each with 6 GiB free: one is admitted until the other releases', async () => {
    const m = await mock.open({
      devices: [defaultDevice(0, { memoryTotal: 16 * GiB, memoryUsed: 10 * GiB, processes: [{ pid: OUTSIDER, usedBytes: 10 * GiB }] })],
    });
    const ledger = new LocalBackend();
    const a = await GpuArbiter.create({ monitor: m, policies, backend: ledger, maxFraction: 1 });
    const b = await GpuArbiter.create({ monitor: m, policies, backend: ledger, maxFraction: 1 });
    arbiters.push(a, b);
    const first = await a.acquire('FOUR', { pid: 5001 });
    const second = b.acquire('FOUR', { pid: 5002 });
    const applied = samples(m, 1);
    await m.sampleNow(); // NVML still shows neither allocation
    await applied; // ...and both arbiters have applied it
    expect(await state(second)).toBe('pending');
    await first.release();
    expect((await second).pid).toBe(5002);
    await ledger.close();
  });

  it('raises overuse when NVML shows a holder process above its declaration', async () => {
    const a = await arbiterOn([{ memoryTotal: 16 * GiB }]);
    const seen: Array<{ pid: number; usedMiB: number }> = [];
    a.on('overuse', (e) => seen.push(e));
    const lease = await a.acquire('FOUR', { pid: 6001 });
    mock.nvml.update((s) => {
      s.devices[0]!.memoryUsed = 6 * GiB;
      s.devices[0]!.processes = [{ pid: 6001, usedBytes: 6 * GiB }];
    });
    await waitFor(() => seen.length > 0, 'an overuse event');
    expect(seen[0]).toMatchObject({ pid: 6001, declaredMiB: 4 * 1024, usedMiB: 6 * 1024 });
    await lease.release();
  });

  it('a GPU that becomes lost (NVML_ERROR_GPU_IS_LOST) takes no new grants; the other one does', async () => {
    const a = await arbiterOn([{ memoryTotal: 16 * GiB }, { memoryTotal: 16 * GiB, memoryUsed: 4 * GiB, processes: [{ pid: OUTSIDER, usedBytes: 4 * GiB }] }]);
    mock.nvml.update((s) => {
      s.fail = { 'nvmlDeviceGetMemoryInfo_v2.1': 15, 'nvmlDeviceGetMemoryInfo.1': 15 };
    });
    await waitFor(() => a.snapshot().devices[1]?.usable === false, 'GPU 1 to be seen as lost');
    expect(a.snapshot().devices[1]!.reason).toBe('NVML_ERROR_GPU_IS_LOST');
    const leases = await Promise.all([a.acquire('FOUR'), a.acquire('FOUR'), a.acquire('FOUR')]);
    expect(leases.map((l) => l.device.index)).toEqual([0, 0, 0]);
    for (const l of leases) await l.release();
  });

  it('with no monitor given, create() starts its own GpuMonitor (GPU_ARBITER_NVML_LIB) and close() stops it', async () => {
    const nvml = MockNvml.create({ devices: [defaultDevice(0, { memoryTotal: 8 * GiB })] });
    const restore = nvml.apply();
    try {
      const a = await GpuArbiter.create({ policies, monitorOptions: { intervalMs: 50 } });
      expect(a.snapshot().devices).toEqual([expect.objectContaining({ index: 0, totalMiB: 8 * 1024, usable: true })]);
      await a.close();
    } finally {
      restore();
      nvml.cleanup();
    }
  });
});
