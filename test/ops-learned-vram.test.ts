// Learned VRAM: vramMiB 'auto' admits on a high percentile of the task's real peaks (NVML
// per-process memory), from a declared default; release({ oom: true }) raises the estimate and
// cools the GPU down. On the simulated GPU (fake timers) and on the mock NVML (real monitor).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter';
import { fakeGpus, GiB, sample, state } from './helpers/fake-monitor';
import { defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { waitFor } from './helpers/wait';

const PID = 5150;
afterEach(() => {
  vi.useRealTimers();
});

describe("vramMiB 'auto'", () => {
  it('starts from defaultVramMiB, then admits on the p95 of recorded peaks; an OOM raises it and cools the GPU down', async () => {
    vi.useFakeTimers();
    const gpu = fakeGpus({ totalMiB: 24 * GiB });
    const a = await GpuArbiter.create({
      monitor: gpu,
      maxFraction: 1,
      oomCooldownMs: 2000,
      policies: { ASR: { priority: 90, vramMiB: 'auto', defaultVramMiB: 4096 }, FIXED: { priority: 10, vramMiB: 1024 } },
    });
    expect(a.learnedVram('ASR')).toEqual({ task: 'ASR', admitMiB: 4096, samples: 0, floorMiB: null });
    for (let i = 0; i < 20; i++) {
      const lease = await a.acquire('ASR', { pid: PID });
      if (i === 0) expect(lease.vramMiB).toBe(4096);
      gpu.setDevice(0, { processes: [{ pid: PID, usedMiB: 1000 + i * 25 }] });
      await sample(gpu);
      gpu.setDevice(0, { processes: [{ pid: PID, usedMiB: 1000 + i * 50 }] }); // the peak
      await sample(gpu);
      gpu.setDevice(0, { processes: [] });
      await sample(gpu);
      await lease.release();
    }
    // peaks 1000..1950 step 50: p95 of 20 = the 19th = 1900
    expect(a.learnedVram('ASR')).toMatchObject({ admitMiB: 1900, samples: 20 });
    const lease = await a.acquire('ASR', { pid: PID });
    expect(lease.vramMiB).toBe(1900);
    gpu.setDevice(0, { processes: [{ pid: PID, usedMiB: 1950 }] });
    await sample(gpu);
    await lease.release({ oom: true });
    // raised over what it had and used: ceil(1950 * 1.25)
    expect(a.learnedVram('ASR')).toMatchObject({ admitMiB: 2438, floorMiB: 2438 });
    // The GPU cools down: a new request queues, and is granted when the cool-down ends.
    const next = a.acquire('FIXED');
    expect(await state(next)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1999);
    expect(await state(next)).toBe('pending');
    await vi.advanceTimersByTimeAsync(2);
    expect(await state(next)).toBe('resolved');
    await (await next).release();
    expect((await a.acquire('ASR')).vramMiB).toBe(2438);
    expect(a.learnedVram('FIXED')).toMatchObject({ admitMiB: 1024 });
    await a.close();
  });

  it("refuses 'auto' without defaultVramMiB, and the auto-only fields without 'auto', naming the field", async () => {
    const monitor = fakeGpus({ totalMiB: GiB });
    await expect(GpuArbiter.create({ monitor, policies: { A: { priority: 1, vramMiB: 'auto' } } })).rejects.toThrow(/policies\.A\.defaultVramMiB/);
    await expect(GpuArbiter.create({ monitor, policies: { A: { priority: 1, vramMiB: 'auto', defaultVramMiB: 10, vramPercentile: 20 } } })).rejects.toThrow(/policies\.A\.vramPercentile/);
    await expect(GpuArbiter.create({ monitor, policies: { A: { priority: 1, vramMiB: 10, defaultVramMiB: 10 } } })).rejects.toThrow(/policies\.A\.defaultVramMiB/);
    await expect(GpuArbiter.create({ monitor, policies: { A: { priority: 1, vramMiB: 10 } }, oomCooldownMs: -1 })).rejects.toThrow(/options\.oomCooldownMs/);
  });
});

describe('learned VRAM on the mock NVML', () => {
  const mock = useMockMonitor();
  it("records the peak NVML reports for the lease's pid and admits on it", async () => {
    const monitor = await mock.open({ devices: [defaultDevice(0, { memoryTotal: 16 * GiB * 1024 * 1024, memoryUsed: 0, processes: [] })] }, undefined, { intervalMs: 20 });
    const a = await GpuArbiter.create({ monitor, policies: { NMT: { priority: 50, vramMiB: 'auto', defaultVramMiB: 6144 } } });
    try {
      const lease = await a.acquire('NMT', { pid: PID });
      expect(lease.vramMiB).toBe(6144);
      const used = 3 * GiB * 1024 * 1024; // 3 GiB in bytes
      mock.nvml.update((s) => {
        s.devices[0]!.memoryUsed = used;
        s.devices[0]!.processes = [{ pid: PID, usedBytes: used }];
      });
      await waitFor(() => (lease as unknown as { peakMiB: number }).peakMiB === 3 * GiB, 'the peak to be sampled');
      await lease.release();
      expect(a.learnedVram('NMT')).toMatchObject({ admitMiB: 3 * GiB, samples: 1 });
      const again = await a.acquire('NMT', { pid: PID });
      expect(again.vramMiB).toBe(3 * GiB);
      await again.release();
    } finally {
      await a.close();
    }
  });
});
