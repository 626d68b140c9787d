import { describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { GpuArbiterOptions } from '../src/arbiter/options';
import { fakeGpus, GiB, OUTSIDER, sample, state } from './helpers/fake-monitor';
import type { SimulatedGpu } from '../src/gpu/simulated';
import type { Lease } from '../src/arbiter/lease';
import { closeAfterEach } from './helpers/close-after-each';
import { LocalBackend } from '../src/backends/local/backend';

const arbiters = closeAfterEach<GpuArbiter>();

async function make(monitor: SimulatedGpu, options: Partial<GpuArbiterOptions> = {}): Promise<GpuArbiter> {
  const a = await GpuArbiter.create({
    monitor,
    maxFraction: 1,
    policies: { JOB: { priority: 50, vramMiB: 4 * GiB }, HUGE: { priority: 99, vramMiB: 30 * GiB } },
    ...options,
  });
  arbiters.push(a);
  return a;
}

describe('multi-GPU placement', () => {
  it('best fit by budget: the GPU left with the least room', async () => {
    const gpu = fakeGpus(
      { totalMiB: 16 * GiB },
      { totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 10 * GiB }] },
      { totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 4 * GiB }] },
    );
    const a = await make(gpu);
    const lease = await a.acquire('JOB');
    expect(lease.device.index).toBe(1);
    expect(lease.env.CUDA_VISIBLE_DEVICES).toBe(gpu.snapshot().devices[1]!.uuid);
    expect(lease.env.CUDA_DEVICE_ORDER).toBe('PCI_BUS_ID');
    await lease.release();
  });

  it('spread: the GPU left with the most room', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 3 * GiB }] }, { totalMiB: 16 * GiB });
    const a = await make(gpu, { placement: 'spread' });
    const lease = await a.acquire('JOB');
    expect(lease.device.index).toBe(1);
    await lease.release();
  });

  it('breaks ties by utilisation', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB, gpuPercent: 85 }, { totalMiB: 16 * GiB, gpuPercent: 15 });
    const a = await make(gpu);
    const lease = await a.acquire('JOB');
    expect(lease.device.index).toBe(1);
    await lease.release();
  });

  it('a request that fits nowhere gets E_DOES_NOT_FIT at once, even with every GPU busy', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB }, { totalMiB: 24 * GiB });
    const a = await make(gpu);
    const holds = await Promise.all([a.acquire('JOB'), a.acquire('JOB')]);
    await expect(a.acquire('HUGE')).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT', details: { largestCapacityMiB: 24 * GiB } });
    expect(a.snapshot().counters.tasks.HUGE!['does-not-fit']).toBe(1);
    for (const l of holds) await l.release();
  });

  it('a lost GPU (NVML_ERROR_GPU_IS_LOST) takes no new grants', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB }, { totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 8 * GiB }] });
    const a = await make(gpu);
    gpu.setDevice(1, { error: 'NVML_ERROR_GPU_IS_LOST' });
    await sample(gpu);
    expect(a.snapshot().devices[1]).toMatchObject({ usable: false, reason: 'NVML_ERROR_GPU_IS_LOST' });
    const leases = [await a.acquire('JOB'), await a.acquire('JOB'), await a.acquire('JOB')];
    expect(leases.map((l) => l.device.index)).toEqual([0, 0, 0]);
    // GPU 0 is full now (12 of 16 GiB + 4 more fits; a 5th would not): nothing spills to GPU 1.
    leases.push(await a.acquire('JOB'));
    const waiter = a.acquire('JOB');
    expect(await state(waiter)).toBe('pending');
    expect(a.snapshot().queues.find((q) => q.device === 0)!.waiters).toHaveLength(1);
    await leases[0]!.release();
    expect((await waiter).device.index).toBe(0);
  });

  it('with every GPU lost, requests fail with E_NO_DEVICE', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB, error: 'NVML_ERROR_GPU_IS_LOST' });
    const a = await make(gpu);
    await expect(a.acquire('JOB')).rejects.toMatchObject({ code: 'E_NO_DEVICE' });
  });

  it('hands out only the configured devices', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB }, { totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 8 * GiB }] });
    const a = await make(gpu, { devices: [0] });
    const lease = await a.acquire('JOB');
    expect(lease.device.index).toBe(0);
    expect(a.snapshot().devices.map((d) => d.index)).toEqual([0]);
    await lease.release();
  });
});

describe('configure({ devices })', () => {
  it('a GPU taken out of devices takes no new grants but keeps its holder until release', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB }, { totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 8 * GiB }] });
    const a = await make(gpu);
    const onOne = await a.acquire('JOB'); // best fit: GPU 1
    expect(onOne.device.index).toBe(1);
    await a.configure({ devices: [0] });
    expect(a.snapshot().devices.map((d) => [d.index, d.usable, d.holders])).toEqual([
      [0, true, 0],
      [1, false, 1],
    ]);
    expect((await a.acquire('JOB')).device.index).toBe(0);
    await onOne.release();
    await a.configure({ maxFraction: 1 }); // any reconcile drops the idle excluded GPU
    expect(a.snapshot().devices.map((d) => d.index)).toEqual([0]);
  });
});

describe('moving waiters between GPUs', () => {
  it('a waiter moves to another GPU that frees up first', async () => {
    const gpu = fakeGpus({ totalMiB: 8 * GiB }, { totalMiB: 8 * GiB });
    const a = await make(gpu, {
      policies: { JOB: { priority: 50, vramMiB: 6 * GiB }, LOW: { priority: 10, vramMiB: 6 * GiB } },
    });
    const on0 = await a.acquire('JOB');
    const on1 = await a.acquire('JOB');
    expect([on0.device.index, on1.device.index]).toEqual([0, 1]);
    const waiter = a.acquire('LOW'); // both full: waits on GPU 0 (tie: lowest index)
    expect(await state(waiter)).toBe('pending');
    expect(a.snapshot().queues.find((q) => q.device === 0)!.waiters).toHaveLength(1);
    await on1.release(); // GPU 1 frees first
    const moved = await waiter;
    expect(moved.device.index).toBe(1);
    expect(a.snapshot().queues.every((q) => q.waiters.length === 0)).toBe(true);
    await moved.release();
    await on0.release();
  });

  it('waiters of a GPU that is lost move to a usable one instead of waiting forever', async () => {
    const gpu = fakeGpus({ totalMiB: 8 * GiB }, { totalMiB: 8 * GiB });
    const a = await make(gpu, { policies: { JOB: { priority: 50, vramMiB: 6 * GiB } } });
    const on0 = await a.acquire('JOB');
    const on1 = await a.acquire('JOB');
    // Each waiter releases as soon as it is granted, so both can finish on one GPU.
    const run = (p: Promise<Lease>) =>
      p.then(async (l) => {
        await l.release();
        return l.device.index;
      });
    const w1 = run(a.acquire('JOB'));
    const w2 = run(a.acquire('JOB'));
    expect(a.snapshot().queues.map((q) => q.waiters.length)).toEqual([1, 1]);
    gpu.setDevice(0, { error: 'NVML_ERROR_GPU_IS_LOST' });
    await sample(gpu);
    expect(a.snapshot().queues.find((q) => q.device === 0)!.waiters).toHaveLength(0);
    expect(a.snapshot().queues.find((q) => q.device === 1)!.waiters).toHaveLength(2);
    await on1.release();
    expect(await Promise.all([w1, w2])).toEqual([1, 1]);
    await on0.release();
  });

  it('a moved waiter keeps its deadline and its wait counts from the first request', async () => {
    vi.useFakeTimers();
    try {
      const gpu = fakeGpus({ totalMiB: 8 * GiB }, { totalMiB: 8 * GiB });
      const a = await make(gpu, { policies: { JOB: { priority: 50, vramMiB: 6 * GiB, maxWaitMs: 1000 } } });
      const on0 = await a.acquire('JOB');
      const on1 = await a.acquire('JOB');
      const waiter = a.acquire('JOB');
      await vi.advanceTimersByTimeAsync(600);
      await on1.release();
      const moved = await waiter;
      expect(moved).toMatchObject({ waitedMs: 600, device: expect.objectContaining({ index: 1 }) });
      const late = a.acquire('JOB');
      const settled = expect(late).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      await vi.advanceTimersByTimeAsync(1000);
      await settled;
      await moved.release();
      await on0.release();
    } finally {
      vi.useRealTimers();
    }
  });

  // The test above checks the wait of a moved waiter that is granted; these two check that the
  // deadline travels with it: a waiter moved off a lost GPU (so it keeps waiting, now on the
  // other one) still times out at the deadline of its first request, not maxWaitMs after the move.
  async function movedOffLostGpu(backend: LocalBackend) {
    const gpu = fakeGpus({ totalMiB: 8 * GiB }, { totalMiB: 8 * GiB });
    const a = await make(gpu, { backend, policies: { JOB: { priority: 50, vramMiB: 6 * GiB, maxWaitMs: 1000 } } });
    const holds = [await a.acquire('JOB'), await a.acquire('JOB')];
    const t0 = Date.now();
    const waiter = a.acquire('JOB');
    const outcome = waiter.then(
      () => null,
      (err: unknown) => err,
    );
    // Where the backend has the waiter queued, and until when.
    const waiterViews = () => backend.inspect().resources.flatMap((r) => r.waiters.map((w) => ({ resource: r.resource, deadline: w.deadline })));
    expect(waiterViews()).toEqual([{ resource: 'gpu:0', deadline: t0 + 1000 }]);
    await vi.advanceTimersByTimeAsync(600);
    gpu.setDevice(0, { error: 'NVML_ERROR_GPU_IS_LOST' });
    await sample(gpu);
    // Moved to GPU 1's queue with the deadline it had: 400 ms left, not a fresh 1000.
    expect(waiterViews()).toEqual([{ resource: 'gpu:1', deadline: t0 + 1000 }]);
    expect(a.snapshot().queues.find((q) => q.device === 1)!.waiters).toMatchObject([{ remainingMs: 400 }]);
    return { a, t0, waiter, outcome, holds };
  }

  it('a waiter moved off a lost GPU times out at the deadline of its first request', async () => {
    vi.useFakeTimers();
    const backend = new LocalBackend();
    try {
      const { a, t0, waiter, outcome, holds } = await movedOffLostGpu(backend);
      const timeouts: unknown[] = [];
      a.on('timeout', (e) => timeouts.push(e));
      await vi.advanceTimersByTimeAsync(399);
      expect(await state(waiter)).toBe('pending'); // 999 ms after the first request
      await vi.advanceTimersByTimeAsync(1);
      expect(await state(waiter)).toBe('rejected');
      expect(await outcome).toMatchObject({ code: 'E_TIMEOUT' });
      expect(Date.now() - t0).toBe(1000);
      expect(timeouts).toEqual([expect.objectContaining({ task: 'JOB' })]);
      expect(a.snapshot().queues.every((q) => q.waiters.length === 0)).toBe(true);
      for (const l of holds) await l.release();
    } finally {
      vi.useRealTimers();
      await backend.close();
    }
  });

  it("a moved waiter's E_TIMEOUT reports the wait from its first request", async () => {
    vi.useFakeTimers();
    const backend = new LocalBackend();
    try {
      const { outcome, holds } = await movedOffLostGpu(backend);
      await vi.advanceTimersByTimeAsync(400);
      expect(await outcome).toMatchObject({ code: 'E_TIMEOUT', details: { waitedMs: 1000 } });
      for (const l of holds) await l.release();
    } finally {
      vi.useRealTimers();
      await backend.close();
    }
  });

  it('aborting a movable waiter still removes it at once', async () => {
    const gpu = fakeGpus({ totalMiB: 8 * GiB }, { totalMiB: 8 * GiB });
    const a = await make(gpu, { policies: { JOB: { priority: 50, vramMiB: 6 * GiB } } });
    const holds = [await a.acquire('JOB'), await a.acquire('JOB')];
    const ac = new AbortController();
    const w = a.acquire('JOB', { signal: ac.signal });
    ac.abort();
    await expect(w).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(a.snapshot().queues.every((q) => q.waiters.length === 0)).toBe(true);
    for (const l of holds) await l.release();
  });
});
