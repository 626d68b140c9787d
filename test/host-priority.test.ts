// Issue 5, point 3: priority is host-wide. With a holder in process A, a low-priority waiter in
// B, then a high-priority waiter in C: on release, C is served first. FIFO within a priority.
import { afterAll, describe, expect, it } from 'vitest';
import { HostLedger } from '../src/backends/host/ledger';
import { HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

afterAll(removeTestNamespaces);

describe('host ledger priority across processes', () => {
  it('serves a later high-priority waiter (C) before an earlier low-priority one (B)', async () => {
    const ns = uniqueNamespace('priority');
    const a = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const held = await a.acquire('gpu');
    const b = new HostChild();
    const c = new HostChild();
    await Promise.all([b.open(ns, { gpu: 1 }), c.open(ns, { gpu: 1 })]);

    const bGranted = b.send({ cmd: 'acquire', resource: 'gpu', options: { priority: 10 }, releaseAfterMs: 0 });
    await waitUntil(() => a.inspect().waiters.some((w) => w.pid === b.pid), 5000, 'B queued');
    const cGranted = c.send({ cmd: 'acquire', resource: 'gpu', options: { priority: 90 }, releaseAfterMs: 0 });
    await waitUntil(() => a.inspect().waiters.some((w) => w.pid === c.pid), 5000, 'C queued');
    const queue = a.inspect().waiters;
    expect(queue.map((w) => [w.pid, w.position])).toEqual([
      [c.pid, 0],
      [b.pid, 1],
    ]);

    await held.release();
    const [rb, rc] = await Promise.all([bGranted, cGranted]);
    expect(rb.ok && rc.ok).toBe(true);
    expect(Number(rc.fence)).toBeLessThan(Number(rb.fence)); // C first
    expect(BigInt(rc.t as string)).toBeLessThan(BigInt(rb.t as string));
    b.kill();
    c.kill();
    await a.close();
  });

  it('is FIFO within one priority across processes', async () => {
    const ns = uniqueNamespace('fifo');
    const a = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const held = await a.acquire('gpu');
    const kids = [new HostChild(), new HostChild(), new HostChild()];
    await Promise.all(kids.map((k) => k.open(ns, { gpu: 1 })));
    const grants = [];
    for (const k of kids) {
      grants.push(k.send({ cmd: 'acquire', resource: 'gpu', options: { priority: 50 }, releaseAfterMs: 0 }));
      await waitUntil(() => a.inspect().waiters.some((w) => w.pid === k.pid), 5000, 'queued');
    }
    await held.release();
    const fences = (await Promise.all(grants)).map((r) => Number(r.fence));
    expect(fences).toEqual([...fences].sort((x, y) => (x < y ? -1 : 1)));
    expect(fences[0]).toBeLessThan(fences[1]);
    expect(fences[1]).toBeLessThan(fences[2]);
    for (const k of kids) k.kill();
    await a.close();
  });

  it('keeps strict order: a large head waiter is not overtaken by smaller ones', async () => {
    const ns = uniqueNamespace('no-backfill');
    const a = await HostLedger.open({ namespace: ns, resources: { vram: 10 } });
    const g6 = await a.acquire('vram', { units: 6 });
    const big = a.acquire('vram', { units: 8 });
    expect(a.tryAcquire('vram', { units: 3 })).toBeNull(); // would fit, but would jump the queue
    const small = a.acquire('vram', { units: 3 }); // fits the 4 free now, not the 2 left after big
    await g6.release();
    const gBig = await big;
    expect(a.inspect().waiters).toHaveLength(1);
    await gBig.release();
    const gSmall = await small;
    await gSmall.release();
    await a.close();
  });
});
