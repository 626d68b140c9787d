// demand and idle hooks, debounced, on fake timers.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { DemandEvent, IdleEvent } from '../src/observe/demand-idle';
import { fakeGpus, GiB, sample } from './helpers/fake-monitor';

afterEach(() => {
  vi.useRealTimers();
});

describe('demand', () => {
  it('coalesces requests no GPU could ever take (too small) into one event per window', async () => {
    vi.useFakeTimers();
    const a = await GpuArbiter.create({
      monitor: fakeGpus({ totalMiB: 8 * GiB }),
      maxFraction: 1,
      demandDebounceMs: 500,
      policies: { BIG: { priority: 50, vramMiB: 20 * GiB }, HUGE: { priority: 50, vramMiB: 40 * GiB }, SMALL: { priority: 50, vramMiB: GiB } },
    });
    const seen: DemandEvent[] = [];
    a.on('demand', (e: DemandEvent) => seen.push(e));
    for (let i = 0; i < 3; i++) await expect(a.acquire('BIG')).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    await expect(a.acquire('HUGE')).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    (await a.acquire('SMALL')).release(); // fits: no demand
    await vi.advanceTimersByTimeAsync(499);
    expect(seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toEqual([{ requests: 4, tasks: { BIG: 3, HUGE: 1 }, neededMiB: 40 * GiB, largestCapacityMiB: 8 * GiB, reason: 'too-small' }]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(seen).toHaveLength(1); // nothing new: no new event
    await a.close();
  });

  it("fires 'no-device' for requests refused with no usable GPU and for waiters stranded on a lost GPU", async () => {
    vi.useFakeTimers();
    const gpu = fakeGpus({ totalMiB: 8 * GiB });
    const a = await GpuArbiter.create({ monitor: gpu, demandDebounceMs: 100, policies: { T: { priority: 50, vramMiB: 6 * GiB } } });
    const seen: DemandEvent[] = [];
    a.on('demand', (e: DemandEvent) => seen.push(e));
    const held = await a.acquire('T');
    const waiter = a.acquire('T', { maxWaitMs: 60_000 });
    gpu.setDevice(0, { error: 'NVML_ERROR_GPU_IS_LOST' });
    await sample(gpu);
    await vi.advanceTimersByTimeAsync(100);
    expect(seen).toEqual([expect.objectContaining({ requests: 1, reason: 'no-device', largestCapacityMiB: null })]);
    await expect(a.acquire('T')).rejects.toMatchObject({ code: 'E_NO_DEVICE' });
    await vi.advanceTimersByTimeAsync(100);
    expect(seen[1]).toEqual({ requests: 1, tasks: { T: 1 }, neededMiB: 6 * GiB, largestCapacityMiB: null, reason: 'no-device' });
    await held.release();
    await a.close();
    await waiter.catch(() => undefined);
  });
});

describe('idle', () => {
  it('fires once after idleMs with no holder and no waiter; activity re-arms it', async () => {
    vi.useFakeTimers();
    const a = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 8 * GiB }), idleMs: 1000, policies: { T: { priority: 50, vramMiB: 6 * GiB } } });
    const seen: IdleEvent[] = [];
    a.on('idle', (e: IdleEvent) => seen.push(e));
    await vi.advanceTimersByTimeAsync(999);
    expect(seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toEqual([{ idleMs: 1000 }]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(seen).toHaveLength(1); // once per idle period
    const lease = await a.acquire('T');
    const waiter = a.acquire('T');
    await vi.advanceTimersByTimeAsync(500);
    await lease.release(); // the waiter is granted: still busy
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen).toHaveLength(1);
    await (await waiter).release();
    await vi.advanceTimersByTimeAsync(999);
    expect(seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toHaveLength(2);
    await a.close();
  });

  it('a waiter counts as activity until it times out', async () => {
    vi.useFakeTimers();
    const a = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 8 * GiB }), idleMs: 100, policies: { T: { priority: 50, vramMiB: 6 * GiB } } });
    const seen: IdleEvent[] = [];
    a.on('idle', (e: IdleEvent) => seen.push(e));
    await vi.advanceTimersByTimeAsync(100);
    expect(seen).toHaveLength(1);
    const lease = await a.acquire('T');
    const waiter = a.acquire('T', { maxWaitMs: 300 }).catch((e: unknown) => e);
    await lease.release();
    const second = (await waiter) as { release(): Promise<void> };
    const stuck = a.acquire('T', { maxWaitMs: 300 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(250);
    expect(seen).toHaveLength(1); // a holder and a waiter: busy
    await vi.advanceTimersByTimeAsync(50);
    expect(await stuck).toMatchObject({ code: 'E_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(200);
    expect(seen).toHaveLength(1); // still held
    await second.release();
    await vi.advanceTimersByTimeAsync(100);
    expect(seen).toHaveLength(2);
    await a.close();
  });

  it('rejects bad idleMs and demandDebounceMs naming the field', async () => {
    const monitor = fakeGpus({ totalMiB: GiB });
    const policies = { T: { priority: 1, vramMiB: 1 } };
    await expect(GpuArbiter.create({ monitor, policies, idleMs: 0 })).rejects.toThrow(/options\.idleMs/);
    await expect(GpuArbiter.create({ monitor, policies, demandDebounceMs: -1 })).rejects.toThrow(/options\.demandDebounceMs/);
  });
});
