// Queue position and ETA: position(), the `waiting` event, the estimate's error in a simulated
// workload (fake timers, seeded random hold times), and the estimator on hand-made queues.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GpuArbiter, type QueuePosition } from '../src/arbiter/gpu-arbiter';
import { estimateWait } from '../src/observe/eta';
import { renderSnapshot } from '../src/cli/render';
import { fakeGpus, GiB } from './helpers/fake-monitor';
import { mulberry32 } from '../src/util/rng';

afterEach(() => {
  vi.useRealTimers();
});

describe('estimateWait', () => {
  it('replays the queue: holders end, waiters ahead start in order, then the request', () => {
    const hold = (t: string) => ({ A: 100, B: 50 })[t] ?? null;
    // budget 10: holder A (6 units, 40 ms in) ends at 60; waiter B (6) starts at 60, ends at 110; me (6) at 110
    expect(estimateWait({ budget: 10, holders: [{ units: 6, task: 'A', heldMs: 40 }], ahead: [{ units: 6, task: 'B' }], me: { units: 6 } }, hold)).toBe(110);
    // B fits beside A at once; me (2) starts when B (the first to end) frees its 4 units
    expect(estimateWait({ budget: 10, holders: [{ units: 6, task: 'A', heldMs: 40 }], ahead: [{ units: 4, task: 'B' }], me: { units: 2 } }, hold)).toBe(50);
    expect(estimateWait({ budget: 10, holders: [{ units: 6, task: 'C', heldMs: 0 }], ahead: [], me: { units: 6 } }, hold)).toBeNull();
  });
});

describe('position() and the waiting event', () => {
  it('give the queue position and an ETA from the recent holds; watch shows them', async () => {
    vi.useFakeTimers();
    const a = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 10 * GiB }), maxFraction: 1, policies: { T: { priority: 50, vramMiB: 6 * GiB } } });
    for (let i = 0; i < 3; i++) {
      const l = await a.acquire('T');
      await vi.advanceTimersByTimeAsync(200);
      await l.release();
    }
    const waits: QueuePosition[] = [];
    a.on('waiting', (p: QueuePosition) => waits.push(p));
    const holder = await a.acquire('T');
    await vi.advanceTimersByTimeAsync(50);
    const w1 = a.acquire('T');
    const w2 = a.acquire('T');
    expect(waits).toEqual([expect.objectContaining({ position: 0, etaMs: 150, task: 'T', device: 0 }), expect.objectContaining({ position: 1, etaMs: 350 })]);
    expect(a.position(waits[1]!.requestId)).toMatchObject({ position: 1, etaMs: 350 });
    expect(renderSnapshot(a.snapshot())).toMatch(/#1 eta ~0\.1s[\s\S]*#2 eta ~0\.3s/);
    await holder.release();
    const l1 = await w1;
    expect(l1.id).toBe(waits[0]!.requestId);
    expect(a.position(l1.id)).toBeNull();
    expect(a.position(waits[1]!.requestId)).toMatchObject({ position: 0 });
    await l1.release();
    await (await w2).release();
    expect(() => a.position('')).toThrow(/requestId/);
    await a.close();
  });
});

describe('ETA error in a simulated workload', () => {
  async function scenario(priorities: boolean, seed: number) {
    vi.useFakeTimers();
    const rand = mulberry32(seed);
    const a = await GpuArbiter.create({
      monitor: fakeGpus({ totalMiB: 16 * GiB }),
      maxFraction: 1,
      policies: {
        ASR: { priority: priorities ? 90 : 50, vramMiB: 8 * GiB },
        NMT: { priority: priorities ? 70 : 50, vramMiB: 6 * GiB },
        TTS: { priority: 50, vramMiB: 4 * GiB },
      },
    });
    const holdRange: Record<string, [number, number]> = { ASR: [200, 400], NMT: [100, 300], TTS: [50, 150] };
    const tasks = ['ASR', 'NMT', 'TTS'];
    const eta = new Map<string, number | null>();
    a.on('waiting', (p: QueuePosition) => eta.set(p.requestId, p.etaMs));
    const errors: Array<{ predicted: number; actual: number }> = [];
    const jobs: Array<Promise<void>> = [];
    const job = async (task: string, measured: boolean) => {
      const lease = await a.acquire(task, { maxWaitMs: 600_000 });
      const predicted = eta.get(lease.id);
      if (measured && predicted !== undefined && predicted !== null) errors.push({ predicted, actual: lease.waitedMs });
      const [lo, hi] = holdRange[task]!;
      await new Promise((r) => setTimeout(r, lo + Math.floor(rand() * (hi - lo))));
      await lease.release();
    };
    for (let i = 0; i < 240; i++) {
      jobs.push(job(tasks[Math.floor(rand() * 3)]!, i >= 40)); // the first 40 build the history
      await vi.advanceTimersByTimeAsync(Math.floor(rand() * 150));
    }
    await vi.advanceTimersByTimeAsync(600_000);
    await Promise.all(jobs);
    await a.close();
    const abs = errors.map((e) => Math.abs(e.predicted - e.actual)).sort((x, y) => x - y);
    const actual = errors.map((e) => e.actual);
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    return {
      n: errors.length,
      meanAbsErrorMs: Math.round(abs.reduce((x, y) => x + y, 0) / abs.length),
      medianAbsErrorMs: median(abs),
      p90AbsErrorMs: abs[Math.floor(abs.length * 0.9)]!,
      meanWaitMs: Math.round(actual.reduce((x, y) => x + y, 0) / actual.length),
      medianWaitMs: median(actual),
      bias: Math.round(errors.reduce((s, e) => s + (e.predicted - e.actual), 0) / errors.length),
    };
  }

  it('same priority (FIFO) and with priorities: the estimate beats guessing the mean wait', async () => {
    const fifo = await scenario(false, 7);
    vi.useRealTimers();
    const prio = await scenario(true, 7);
    console.log(`ETA error, FIFO: ${JSON.stringify(fifo)}`);
    console.log(`ETA error, priorities 90/70/50: ${JSON.stringify(prio)}`);
    expect(fifo.n).toBeGreaterThan(50);
    expect(fifo.meanAbsErrorMs).toBeLessThan(fifo.meanWaitMs);
    expect(prio.n).toBeGreaterThan(50);
  });
});
