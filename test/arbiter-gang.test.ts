// acquire(task, { gpus: N }) (issue 14, part 2): N GPUs of this node, all granted together or
// none, on the local and host backends; across real processes on the host backend.
import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { Backend } from '../src/backends/contract';
import { HostBackend } from '../src/backends/host/backend';
import { LocalBackend } from '../src/backends/local/backend';
import { inspectHostNamespace } from '../src/backends/host/namespaces';
import { fakeGpus, GiB } from './helpers/fake-monitor';
import { HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';
import { defaultDevice, MockNvml } from './helpers/mock-nvml';

const policies = {
  PAIR: { priority: 50, vramMiB: 4 * GiB, maxWaitMs: 10_000 },
  BIG: { priority: 50, vramMiB: 14 * GiB, maxWaitMs: 10_000 },
};
const arbiters: GpuArbiter[] = [];
const children: HostChild[] = [];
afterEach(async () => {
  await Promise.all(arbiters.splice(0).map((a) => a.close()));
  for (const c of children.splice(0)) {
    c.kill();
    await c.exited;
  }
  removeTestNamespaces();
});

const backends: HostBackend[] = [];
afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
});

/** An arbiter over two 16 GiB GPUs and the backend it uses (passed in, so a test can reach it). */
async function make(kind: 'local' | 'host'): Promise<{ a: GpuArbiter; backend: Backend }> {
  const monitor = fakeGpus({ totalMiB: 16 * GiB, uuid: 'GPU-0' }, { totalMiB: 16 * GiB, uuid: 'GPU-1' });
  let backend: Backend;
  if (kind === 'local') backend = new LocalBackend();
  else {
    const host = new HostBackend({ namespace: uniqueNamespace('gang') });
    backends.push(host);
    backend = host;
  }
  const a = await GpuArbiter.create({ backend, monitor, policies, maxFraction: 1 });
  arbiters.push(a);
  return { a, backend };
}

for (const backend of ['local', 'host'] as const) {
  describe(`acquire({ gpus }) on the ${backend} backend`, () => {
    it('grants both GPUs at once: lease.devices, CUDA_VISIBLE_DEVICES with both UUIDs, one holder per GPU', async () => {
      const { a } = await make(backend);
      const lease = await a.acquire('PAIR', { gpus: 2, label: 'job=tp-1' });
      expect(lease.devices.map((d) => d.index)).toEqual([0, 1]);
      expect(lease.device.index).toBe(0);
      expect(lease.env.CUDA_VISIBLE_DEVICES).toBe('GPU-0,GPU-1');
      expect(lease.toJSON().devices).toHaveLength(2);
      const holders = a.snapshot().holders;
      expect(holders.map((h) => [h.device, h.vramMiB, h.own, h.leaseId])).toEqual([
        [0, 4 * GiB, true, lease.id],
        [1, 4 * GiB, true, lease.id],
      ]);
      await lease.release();
      expect(a.snapshot().holders).toEqual([]);
    });

    it('waits with nothing held while one GPU is full, then takes both; a set that can never fit fails at once', async () => {
      const { a } = await make(backend);
      const big = await a.acquire('BIG'); // 14 of 16 GiB on one GPU
      const pair = a.acquire('PAIR', { gpus: 2 });
      await waitUntil(() => a.snapshot().holders.length === 1 && a.snapshot().queues.some((q) => q.waiters.length > 0), 2000, 'the pair to queue');
      expect(a.snapshot().holders.map((h) => h.leaseId)).toEqual([big.id]); // nothing of the pair held
      await big.release();
      const lease = await pair;
      expect(lease.devices).toHaveLength(2);
      await lease.release();
      await expect(a.acquire('PAIR', { gpus: 3 })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT', details: { gpus: 3, fitting: 2 } });
      await expect(a.acquire('PAIR', { gpus: 2, vramMiB: 17 * GiB })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
      await expect(a.acquire('PAIR', { gpus: 0 })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    });

    it('a lost member ends the whole lease and gives the other GPU back', async () => {
      const { a, backend: b } = await make(backend);
      const lease = await a.acquire('PAIR', { gpus: 2 });
      const second = a.snapshot().holders.find((h) => h.device === 1)!;
      const r = b.inspect().resources.find((x) => x.resource === second.resource)!;
      expect(await b.revoke(r.resource, r.holders[0]!.token)).toBe(true);
      await waitUntil(() => lease.lost.aborted, 2000, 'lease.lost');
      expect(a.snapshot().holders).toEqual([]);
    });
  });
}

describe('acquire({ gpus: 2 }) across processes (host backend)', () => {
  it('two processes each asking for 2 of 2 GPUs, 1000 rounds each: no deadlock, never a partial hold', async () => {
    const nvml = MockNvml.create({ devices: [defaultDevice(0), defaultDevice(1)] });
    const restore = nvml.apply();
    try {
      const ns = uniqueNamespace('gang-procs');
      const procs = [new HostChild('arbiter-child.cjs'), new HostChild('arbiter-child.cjs')];
      children.push(...procs);
      for (const c of procs) {
        await c.ready;
        expect(await c.send({ cmd: 'create', ns, policies, maxFraction: 1 })).toMatchObject({ ok: true });
      }
      const rounds = 1000;
      const startAt = Date.now() + 200;
      let done = false;
      const running = Promise.all(procs.map((c) => c.send({ cmd: 'pairLoop', task: 'PAIR', gpus: 2, rounds, startAt }))).finally(() => {
        done = true;
      });
      const partial: string[] = [];
      let views = 0;
      while (!done) {
        const st = inspectHostNamespace(ns);
        views++;
        const byLease = new Map<string, number>();
        for (const h of st.holders) byLease.set(h.label, (byLease.get(h.label) ?? 0) + 1);
        for (const [label, n] of byLease) if (n !== 2) partial.push(`${label}: ${n}`);
        await new Promise((r) => setImmediate(r));
      }
      const replies = await running;
      for (const r of replies) expect(r, r.error).toMatchObject({ ok: true });
      expect(partial).toEqual([]);
      expect(views).toBeGreaterThan(10);
      console.log(`arbiter, 2 processes x ${rounds} leases of 2 GPUs: ${views} views of the ledger, no partial hold`);
    } finally {
      restore();
      nvml.cleanup();
    }
  }, 180_000);
});
