// Busy policies (WAIT / SKIP / FALLBACK_CPU / REJECT), priorities, queue limits and abort through
// the arbiter. Fake timers: every wait ends by the clock the test moves, never by real time.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { Lease } from '../src/arbiter/lease';
import { fakeGpus, GiB, state } from './helpers/fake-monitor';

let arbiter: GpuArbiter;
let hog: Lease;
const events: Array<[string, unknown]> = [];

beforeEach(async () => {
  vi.useFakeTimers();
  arbiter = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB }),
    maxFraction: 1,
    policies: {
      HOG: { priority: 100, vramMiB: 16 * GiB },
      ASR: { priority: 90, vramMiB: 2 * GiB, maxWaitMs: 3000 },
      NMT: { priority: 80, vramMiB: 2 * GiB },
      TTS: { priority: 70, vramMiB: 2 * GiB, queueLimit: 1 },
      REPAIR: { priority: 20, vramMiB: 1 * GiB, busyPolicy: 'SKIP', maxWaitMs: 400 },
      NO_QUEUE: { priority: 20, vramMiB: 1 * GiB, busyPolicy: 'SKIP', maxWaitMs: 400, queueLimit: 0 },
      TRY: { priority: 20, vramMiB: 1 * GiB, busyPolicy: 'SKIP' },
      CPU_OK: { priority: 20, vramMiB: 1 * GiB, busyPolicy: 'FALLBACK_CPU', maxWaitMs: 100 },
      NOW: { priority: 20, vramMiB: 1 * GiB, busyPolicy: 'REJECT' },
    },
  });
  events.length = 0;
  for (const e of ['acquired', 'released', 'skipped', 'fell-back', 'timeout']) arbiter.on(e, (p: unknown) => events.push([e, p]));
  hog = await arbiter.acquire('HOG');
});

afterEach(async () => {
  await arbiter.close();
  vi.useRealTimers();
});

const counters = (task: string) => arbiter.snapshot().counters.tasks[task]!;

describe('busy policies', () => {
  it('WAIT: queues until maxWaitMs, then E_TIMEOUT with a timeout event, counted', async () => {
    const p = arbiter.acquire('ASR');
    const settled = expect(p).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(2999);
    expect(await state(p)).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    await settled;
    expect(events.filter(([e]) => e === 'timeout')).toEqual([['timeout', { task: 'ASR', waitedMs: 3000 }]]);
    expect(counters('ASR')).toMatchObject({ timeout: 1, acquired: 0 });
    expect(arbiter.snapshot().queues[0]!.waiters).toEqual([]);
  });

  it('WAIT: is granted as soon as the GPU frees within maxWaitMs', async () => {
    const p = arbiter.acquire('ASR');
    await vi.advanceTimersByTimeAsync(1000);
    await hog.release();
    const lease = await p;
    expect(lease.waitedMs).toBe(1000);
    expect(counters('ASR')).toMatchObject({ acquired: 1 });
    await lease.release();
  });

  it('SKIP: waits at most maxWaitMs, then resolves skipped', async () => {
    const fn = vi.fn();
    const p = arbiter.run('REPAIR', fn);
    await vi.advanceTimersByTimeAsync(400);
    expect(await p).toEqual({ status: 'skipped', reason: 'E_TIMEOUT' });
    expect(fn).not.toHaveBeenCalled();
    expect(events).toContainEqual(['skipped', { task: 'REPAIR', reason: 'E_TIMEOUT' }]);
    expect(counters('REPAIR')).toMatchObject({ skipped: 1, timeout: 0 });
  });

  it('SKIP with maxWaitMs 0 tries once', async () => {
    expect(await arbiter.run('TRY', () => 'gpu')).toEqual({ status: 'skipped', reason: 'E_TIMEOUT' });
    await hog.release();
    expect(await arbiter.run('TRY', () => 'gpu')).toEqual({ status: 'ran', value: 'gpu' });
    expect(counters('TRY')).toMatchObject({ skipped: 1, acquired: 1 });
  });

  it('FALLBACK_CPU: runs the fallback when the GPU stays busy, resolves fell-back', async () => {
    const p = arbiter.run('CPU_OK', () => 'gpu', { fallback: () => 'cpu' });
    await vi.advanceTimersByTimeAsync(100);
    expect(await p).toEqual({ status: 'fell-back', value: 'cpu', reason: 'E_TIMEOUT' });
    expect(events).toContainEqual(['fell-back', { task: 'CPU_OK', reason: 'E_TIMEOUT' }]);
    await hog.release();
    expect(await arbiter.run('CPU_OK', () => 'gpu', { fallback: () => 'cpu' })).toEqual({ status: 'ran', value: 'gpu' });
    expect(counters('CPU_OK')).toMatchObject({ 'fell-back': 1, acquired: 1 });
  });

  it('REJECT: throws E_BUSY at once', async () => {
    await expect(arbiter.acquire('NOW')).rejects.toMatchObject({ code: 'E_BUSY' });
    await expect(arbiter.run('NOW', () => 1)).rejects.toMatchObject({ code: 'E_BUSY' });
    expect(counters('NOW')).toMatchObject({ busy: 2 });
  });

  it('queueLimit: one waiter too many gets E_QUEUE_FULL; a SKIP task skips instead', async () => {
    const first = arbiter.acquire('TTS');
    await expect(arbiter.acquire('TTS')).rejects.toMatchObject({ code: 'E_QUEUE_FULL' });
    expect(counters('TTS')).toMatchObject({ 'queue-full': 1 });
    expect(await arbiter.run('NO_QUEUE', () => 1)).toEqual({ status: 'skipped', reason: 'E_QUEUE_FULL' });
    await hog.release();
    await (await first).release();
  });

  it('run() releases the lease when fn throws, and rethrows', async () => {
    await hog.release();
    await expect(arbiter.run('NMT', () => Promise.reject(new Error('CUDA error')))).rejects.toThrow('CUDA error');
    expect(arbiter.snapshot().holders).toEqual([]);
  });
});

describe('order and cancellation through the arbiter', () => {
  it('serves higher priority first, FIFO within a priority', async () => {
    const order: string[] = [];
    const go = (task: string, tag: string) =>
      arbiter.acquire(task).then(async (l) => {
        order.push(tag);
        await l.release();
      });
    const all = [go('NMT', 'nmt1'), go('ASR', 'asr1'), go('NMT', 'nmt2'), go('ASR', 'asr2')];
    // All four fit together once the hog leaves; make them queue behind each other:
    await arbiter.configure({ maxFraction: 2 / 16 });
    await hog.release();
    await Promise.all(all);
    expect(order).toEqual(['asr1', 'asr2', 'nmt1', 'nmt2']);
  });

  it('an AbortSignal removes the waiter at once with E_ABORTED, counted', async () => {
    const ac = new AbortController();
    const p = arbiter.acquire('NMT', { signal: ac.signal });
    expect(arbiter.snapshot().queues[0]!.waiters).toHaveLength(1);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(arbiter.snapshot().queues[0]!.waiters).toHaveLength(0);
    expect(counters('NMT')).toMatchObject({ aborted: 1 });
  });

  it('close() rejects waiters with E_CLOSED and refuses new requests', async () => {
    const p = arbiter.acquire('NMT');
    await arbiter.close();
    await expect(p).rejects.toMatchObject({ code: 'E_CLOSED' });
    await expect(arbiter.acquire('NMT')).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});
