import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter';
import type { GpuArbiterOptions } from '../src/arbiter-options';
import { fakeGpus, GiB, OUTSIDER, sample, state } from './helpers/fake-monitor';
import type { SimulatedGpu } from '../src/sim-gpu';

const arbiters: GpuArbiter[] = [];
afterEach(async () => {
  await Promise.all(arbiters.splice(0).map((a) => a.close()));
});

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
