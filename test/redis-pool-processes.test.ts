// The cluster-wide pool (issue 15) with real processes and a real redis-server: a node whose
// agent is SIGKILLed leaves the pool and its leases end 'node-lost'; node-scope and cluster-scope
// clients never overbook one GPU; after Redis restarts empty, no lease is granted while one of
// before the loss may still be believed held.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisLeases } from '../src/backends/redis/leases';
import { fakeNode, type FakeNode } from './helpers/pool-nodes';
import { killAll, type LeaseChild, spawnLeaseClient } from './helpers/redis-children';
import { RedisServer } from './helpers/redis-server';
import { waitFor } from './helpers/wait';

const POOL_NODE = path.resolve(__dirname, 'fixtures/redis/pool-node.cjs');
const HAMMER = path.resolve(__dirname, 'fixtures/redis/pool-hammer.cjs');

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});
const children: LeaseChild[] = [];
const open: Array<{ close(): Promise<unknown> } | FakeNode> = [];
afterEach(async () => {
  killAll(children);
  children.length = 0;
  for (const o of open.splice(0).reverse()) await ('stop' in o ? o.stop() : o.close()).catch(() => undefined);
});

const holder = { leaseId: 'l1', task: 'OCR', pid: process.pid };
const ns = (): string => `pp${randomBytes(4).toString('hex')}`;

async function leases(namespace: string, extra: Record<string, unknown> = {}): Promise<RedisLeases> {
  const l = await RedisLeases.open({ redis: server.url, namespace, ...extra });
  open.push(l);
  return l;
}

function hammer(namespace: string, mode: 'node' | 'cluster', rounds: number, units: number): Promise<string> {
  const child = spawn(process.execPath, [HAMMER, server.url, namespace, mode, String(rounds), String(units)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  return new Promise((resolve) => child.on('exit', () => resolve(out.trim())));
}

describe('the cluster pool across processes', () => {
  it("a node whose agent is SIGKILLed drops out: its lease ends 'node-lost' once its heartbeat TTL passed; leases on live nodes stay", async () => {
    const namespace = ns();
    const agent = spawnLeaseClient({ redis: server.url, namespace, nodeId: 'doomed', sizes: [16_000], ttlMs: 1000 }, POOL_NODE);
    children.push(agent);
    await agent.line(/^ready$/);
    // A live node whose heartbeats (every TTL/3) prune the lapsed one, as any node of a pool does.
    const live = await fakeNode(server.url, namespace, 'alive', [8_000], { ttlMs: 1000 });
    open.push(live);
    const c = await leases(namespace);
    const onDoomed = await c.acquirePool({ units: 12_000, priority: 1, holder });
    // binpack would fill doomed's last 4000; 6000 fits only alive.
    const onLive = await c.acquirePool({ units: 6_000, priority: 1, holder });
    expect([onDoomed.node.id, onLive.node.id]).toEqual(['doomed', 'alive']);
    const killedAt = Date.now();
    agent.proc.kill('SIGKILL');
    await waitFor(() => onDoomed.grants[0]!.lost.aborted, 'node-lost', 5000);
    const lostAfter = Date.now() - killedAt;
    expect((onDoomed.grants[0]!.lost.reason as { details: { reason: string } }).details.reason).toBe('node-lost');
    // Not before the heartbeat TTL (1000 ms from the last heartbeat, at most TTL/3 before the kill).
    expect(lostAfter).toBeGreaterThanOrEqual(600);
    expect(onLive.grants[0]!.lost.aborted).toBe(false);
    // The lapsed node takes no new grant: 12000 fits nowhere that is live.
    await expect(c.acquirePool({ units: 12_000, priority: 1, holder })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    await onLive.grants[0]!.release();
  }, 20_000);

  it('node-scope and cluster-scope clients hammering one GPU never overbook it: 2 x 2 processes x 300 holds, 0 overlaps', async () => {
    const namespace = ns();
    open.push(await fakeNode(server.url, namespace, 'hammer', [10_000]));
    const outs = await Promise.all([
      hammer(namespace, 'node', 300, 6_000),
      hammer(namespace, 'node', 300, 6_000),
      hammer(namespace, 'cluster', 300, 6_000),
      hammer(namespace, 'cluster', 300, 6_000),
    ]);
    const holds: Array<[number, number, number, number]> = [];
    outs.forEach((o, p) => {
      expect(o).toMatch(/^done /);
      for (const [s, e, f] of JSON.parse(o.slice(5)) as Array<[number, number, number]>) holds.push([s, e, f, p]);
    });
    expect(holds).toHaveLength(1200);
    holds.sort((a, b) => a[0] - b[0]);
    let overlaps = 0;
    for (let i = 1; i < holds.length; i++) {
      if (holds[i]![0] < holds[i - 1]![1]) overlaps++;
      // One GPU, one fencing counter: grant order is fencing order.
      expect(holds[i]![2]).toBeGreaterThan(holds[i - 1]![2]);
    }
    expect(overlaps).toBe(0);
    // Both kinds of client got the GPU.
    expect(new Set(holds.map((h) => h[3]))).toEqual(new Set([0, 1, 2, 3]));
  }, 120_000);

  it('after Redis restarts empty, no lease is granted before the holders of before the loss have learnt they lost it', async () => {
    const namespace = ns();
    const ttl = 1000;
    const node = await fakeNode(server.url, namespace, 'n', [10_000], { ttlMs: 3000, leaseTtlMs: ttl });
    open.push(node);
    const a = await leases(namespace, { leaseTtlMs: ttl });
    const held = await a.acquire({ resource: 'n/gpu0', units: 6_000, priority: 1, holder });
    let lostAt = 0;
    held.lost.addEventListener('abort', () => {
      lostAt = performance.timeOrigin + performance.now();
    });
    // The node's client knows the pool's epoch (its own requests carried it).
    const warm = await node.leases.acquire({ resource: 'n/gpu0', units: 1_000, priority: 1, holder });
    await warm.release();
    await server.restart(); // no persistence: every key is gone
    await waitFor(() => node.leases.available, 'the node client reconnects', 5000);
    const b = node.leases.acquire({ resource: 'n/gpu0', units: 6_000, priority: 1, holder, deadline: Date.now() + 10_000 });
    const restartedAt = performance.timeOrigin + performance.now();
    const grant = await b;
    const grantedAt = performance.timeOrigin + performance.now();
    // The pool's epoch hold: one lease TTL from the first request that proved the loss.
    expect(grantedAt - restartedAt).toBeGreaterThanOrEqual(ttl * 0.9);
    await waitFor(() => lostAt > 0, 'the old holder learns of its loss', 5000);
    // No real-time overlap: the old holder had given up before the new grant.
    expect(lostAt).toBeLessThan(grantedAt);
    await grant.release();
  }, 30_000);
});
