// The cluster-wide pool (issue 15) on a real redis-server: cluster-scope requests placed over
// every live node's GPUs by one script (RedisLeases.acquirePool), with fake registered nodes.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLeases } from '../src/backends/redis/leases';
import { fakeNode, type FakeNode } from './helpers/pool-nodes';
import { RedisServer } from './helpers/redis-server';

let server: RedisServer;
const open: Array<{ close(): Promise<unknown> } | FakeNode> = [];
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  for (const o of open.reverse()) await ('stop' in o ? o.stop() : o.close()).catch(() => undefined);
  await server?.stop();
});

const holder = { leaseId: 'l1', task: 'OCR', pid: process.pid };
const ns = (): string => `pool${randomBytes(4).toString('hex')}`;

async function node(namespace: string, id: string, sizes: number[], labels?: Record<string, string>): Promise<FakeNode> {
  const n = await fakeNode(server.url, namespace, id, sizes, labels ? { labels } : {});
  open.push(n);
  return n;
}

async function client(namespace: string): Promise<RedisLeases> {
  const c = await RedisLeases.open({ redis: server.url, namespace });
  open.push(c);
  return c;
}

describe('RedisLeases.acquirePool', () => {
  it('places a GPU-less client on the node that fits (binpack), with the node and GPU it got', async () => {
    const namespace = ns();
    await node(namespace, 'big', [40_000, 40_000]);
    await node(namespace, 'small', [8_000]);
    const c = await client(namespace);
    const a = await c.acquirePool({ units: 6_000, priority: 50, holder });
    expect(a.node.id).toBe('small');
    expect(a.gpus.map((g) => g.resource)).toEqual(['small/gpu0']);
    expect(a.grants[0]!.resource).toBe('small/gpu0');
    // small has 2000 left: the next 6000 goes to big.
    const b = await c.acquirePool({ units: 6_000, priority: 50, holder });
    expect(b.node.id).toBe('big');
    expect(b.gpus[0]!.uuid).toMatch(/^GPU-stub-/);
    await a.grants[0]!.release();
    await b.grants[0]!.release();
  });

  it('selects nodes by labels, and takes gangs of N GPUs on one node', async () => {
    const namespace = ns();
    await node(namespace, 'eu', [24_000, 24_000], { zone: 'eu-1' });
    await node(namespace, 'us', [24_000, 24_000, 24_000, 24_000], { zone: 'us-1' });
    const c = await client(namespace);
    const eu = await c.acquirePool({ units: 1_000, priority: 1, holder, labels: { zone: 'eu-1' } });
    expect(eu.node).toEqual({ id: 'eu', host: expect.any(String), labels: { zone: 'eu-1' } });
    const gang = await c.acquirePool({ units: 20_000, priority: 1, holder, gpus: 4 });
    expect(gang.node.id).toBe('us');
    expect(new Set(gang.grants.map((g) => g.resource)).size).toBe(4);
    for (const g of [...eu.grants, ...gang.grants]) await g.release();
  });

  it('fails at once what fits no live node (E_DOES_NOT_FIT), and with no node E_NO_DEVICE', async () => {
    const namespace = ns();
    const c = await client(namespace);
    await expect(c.acquirePool({ units: 1, priority: 1, holder })).rejects.toMatchObject({ code: 'E_NO_DEVICE' });
    await node(namespace, 'n1', [16_000, 16_000]);
    await expect(c.acquirePool({ units: 20_000, priority: 1, holder })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT', details: { largestCapacity: 16_000 } });
    await expect(c.acquirePool({ units: 1_000, priority: 1, holder, gpus: 3 })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    await expect(c.acquirePool({ units: 1_000, priority: 1, holder, labels: { zone: 'mars' } })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    await expect(c.acquirePool({ units: 1_000, priority: 1, holder, gpus: 0 })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(c.acquirePool({ units: 1_000, priority: 1, holder, placement: 'random' as never })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
  });

  it('a waiter is granted on whichever node frees first, in priority order, without polling', async () => {
    const namespace = ns();
    await node(namespace, 'a', [10_000]);
    await node(namespace, 'b', [10_000]);
    // pollMs long: a grant within it came from a wake-up, not a poll.
    const c = await RedisLeases.open({ redis: server.url, namespace, pollMs: 60_000, waiterTtlMs: 120_000 });
    open.push(c);
    const onA = await c.acquirePool({ units: 8_000, priority: 1, holder });
    const onB = await c.acquirePool({ units: 8_000, priority: 1, holder });
    const low = c.acquirePool({ units: 8_000, priority: 1, holder });
    const high = c.acquirePool({ units: 8_000, priority: 9, holder });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await (onB.node.id === 'b' ? onB : onA).grants[0]!.release();
    const first = await high;
    expect(first.node.id).toBe('b');
    expect(Date.now() - t0).toBeLessThan(1000);
    await (onB.node.id === 'b' ? onA : onB).grants[0]!.release();
    const second = await low;
    expect(second.node.id).toBe('a');
    await first.grants[0]!.release();
    await second.grants[0]!.release();
  });

  it('node-scope and cluster-scope grants share one ledger: neither overbooks a GPU', async () => {
    const namespace = ns();
    const n = await node(namespace, 'solo', [10_000]);
    const c = await client(namespace);
    const local = await n.leases.acquire({ resource: 'solo/gpu0', units: 7_000, priority: 1, holder });
    const remote = c.acquirePool({ units: 7_000, priority: 1, holder });
    await new Promise((r) => setTimeout(r, 100));
    expect((await n.leases.inspect({ resources: ['solo/gpu0'] })).resources[0]!.declared).toBe(7_000);
    await local.release();
    const g = await remote;
    expect(g.node.id).toBe('solo');
    await expect(n.leases.acquire({ resource: 'solo/gpu0', units: 7_000, priority: 1, holder, deadline: Date.now() })).rejects.toMatchObject({
      code: 'E_TIMEOUT',
    });
    await g.grants[0]!.release();
  });
});
