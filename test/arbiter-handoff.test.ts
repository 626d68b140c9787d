// Handoff between holders through the in-process ledger: the waiter's lease is made inside the
// releasing holder's release() (src/arbiter/lease-request.ts), yet events keep their order and
// the waiting count (idle hook) and metrics stay right.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { Lease } from '../src/arbiter/lease';
import { LocalBackend } from '../src/backends/local/backend';
import { fakeGpus, GiB } from './helpers/fake-monitor';

let arbiter: GpuArbiter | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await arbiter?.close();
});

async function make(idleMs?: number): Promise<GpuArbiter> {
  arbiter = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB }),
    maxFraction: 1,
    policies: { LOW: { priority: 10, vramMiB: 16 * GiB }, HIGH: { priority: 90, vramMiB: 16 * GiB } },
    ...(idleMs === undefined ? {} : { idleMs }),
  });
  return arbiter;
}

describe('GpuArbiter handoff (in-process ledger)', () => {
  it('a waiter granted by a release: released before acquired, then the caller has its lease', async () => {
    // The arbiter finds the one-trip path structurally: make sure it takes it.
    const into = vi.spyOn(LocalBackend.prototype, 'acquireInto');
    const a = await make();
    const seen: string[] = [];
    a.on('acquired', (l: Lease) => seen.push(`acquired ${l.id}`));
    a.on('released', (l: Lease) => seen.push(`released ${l.id}`));
    const first = await a.acquire('LOW');
    const next = a.acquire('LOW').then((l) => {
      seen.push(`caller has ${l.id}`);
      return l;
    });
    await Promise.resolve();
    void first.release();
    seen.push('release returned');
    const second = await next;
    expect(seen).toEqual([`acquired ${first.id}`, `released ${first.id}`, 'release returned', `acquired ${second.id}`, `caller has ${second.id}`]);
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
    expect(second.waitedMs).toBeGreaterThanOrEqual(0);
    expect(into).toHaveBeenCalledTimes(2);
    void second.release();
  });

  it('a throwing acquired listener does not cost the granted waiter its lease: it is reported as a warning', async () => {
    const a = await make();
    const warnings: unknown[] = [];
    a.on('warning', (e) => warnings.push(e));
    const first = await a.acquire('LOW');
    const next = a.acquire('LOW');
    a.on('acquired', () => {
      throw new Error('listener broke');
    });
    void first.release();
    const second = await next;
    expect(second.released).toBe(false);
    expect(warnings).toEqual([expect.objectContaining({ message: 'listener broke' })]);
    void second.release();
    expect(a.snapshot().holders).toHaveLength(0);
  });

  it('100 waiters of two priorities: one holder at a time, HIGH before LOW, FIFO within each; counters and idle hook settle', async () => {
    const a = await make(10);
    let holding = 0;
    let most = 0;
    const order: string[] = [];
    const idle: boolean[] = [];
    a.on('idle', () => idle.push(true));
    const first = await a.acquire('LOW');
    const work = Array.from({ length: 100 }, async (_, i) => {
      const task = i % 2 === 0 ? 'LOW' : 'HIGH';
      const lease = await a.acquire(task, { label: `${task}-${i}` });
      holding++;
      most = Math.max(most, holding);
      order.push(lease.label!);
      await Promise.resolve();
      holding--;
      await lease.release();
    });
    expect(a.snapshot().queues[0]!.waiters).toHaveLength(100);
    await first.release();
    await Promise.all(work);
    expect(most).toBe(1);
    const high = order.filter((l) => l.startsWith('HIGH'));
    expect(order.slice(0, 50)).toEqual(high);
    expect(high.map((l) => Number(l.split('-')[1]))).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i + 1));
    expect(order.slice(50).map((l) => Number(l.split('-')[1]))).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i));
    expect(a.metrics().find((f) => f.name === 'gpu_arbiter_acquire_total')!.samples).toEqual([
      { labels: { task: 'LOW', outcome: 'acquired' }, value: 51 },
      { labels: { task: 'HIGH', outcome: 'acquired' }, value: 50 },
    ]);
    idle.length = 0; // from here on: an idle event means no holder and no request counted as waiting
    const snap = a.snapshot();
    expect(snap.holders).toHaveLength(0);
    expect(snap.queues[0]!.waiters).toHaveLength(0);
    // Nothing is left counted as waiting: the idle hook fires once everyone is done.
    await new Promise((r) => setTimeout(r, 50));
    expect(idle.length).toBeGreaterThan(0);
  });
});
