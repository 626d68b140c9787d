// GpuArbiter with scope 'cluster' (issue 15): a GPU-less service placed on any live node's GPUs by
// Redis; and `gpu-arbiter node`, the agent that registers a host's GPUs from NVML (here the mock
// NVML library), as a user runs it: placed on, then SIGKILLed and dropped from the pool.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { collectCluster, formatCluster } from '../src/backends/redis/cluster-view';
import { fakeGpus } from './helpers/fake-monitor';
import { GiB, MockNvml, defaultDevice } from './helpers/mock-nvml';
import { fakeNode, type FakeNode } from './helpers/pool-nodes';
import { RedisServer } from './helpers/redis-server';
import { waitFor, waitForAsync } from './helpers/wait';

const cli = path.resolve(__dirname, '../dist/cli/main.js');
let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});
const open: Array<{ close(): Promise<unknown> } | FakeNode> = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await ('stop' in o ? o.stop() : o.close()).catch(() => undefined);
  for (const c of cleanups.splice(0)) c();
});
const ns = (): string => `ap${randomBytes(4).toString('hex')}`;

async function client(namespace: string, extra: Record<string, unknown> = {}): Promise<GpuArbiter> {
  const a = await GpuArbiter.create({
    backend: 'redis',
    redis: server.url,
    namespace,
    scope: 'cluster',
    // A service with no GPU of its own.
    monitor: fakeGpus(),
    policies: { OCR: { priority: 60, vramMiB: 6000, maxWaitMs: 30_000 } },
    ...extra,
  });
  a.on('warning', () => undefined);
  open.push(a);
  return a;
}

describe("GpuArbiter scope 'cluster'", () => {
  it('a GPU-less service gets a GPU on the node that fits, with lease.node, lease.devices and an env naming the GPU by UUID', async () => {
    const namespace = ns();
    open.push(await fakeNode(server.url, namespace, 'gpu-node-a', [8_000], { labels: { zone: 'eu-1' } }));
    open.push(await fakeNode(server.url, namespace, 'gpu-node-b', [24_000, 24_000], { labels: { zone: 'eu-1' } }));
    const pool = await client(namespace, { nodes: { labels: { zone: 'eu-1' } } });
    await using lease = await pool.acquire('OCR', { vramMiB: 9000, label: { job: 'scan-7' } });
    expect(lease.node).toEqual({ id: 'gpu-node-b', host: expect.any(String), labels: { zone: 'eu-1' } });
    expect(lease.devices).toHaveLength(1);
    expect(lease.env.CUDA_VISIBLE_DEVICES).toBe(lease.devices[0]!.uuid);
    expect(lease.fencingToken).toBeGreaterThan(0);
    expect(lease.toJSON().node?.id).toBe('gpu-node-b');
    // status --redis shows the holder with its job label.
    const view = await collectCluster(server.url, { namespace });
    const b = view.nodes.find((n) => n.nodeId === 'gpu-node-b')!;
    expect(b.gpus.flatMap((g) => g.jobs ?? [])).toEqual([expect.objectContaining({ task: 'OCR', label: 'job=scan-7', units: 9000 })]);
    const gang = await pool.acquire('OCR', { vramMiB: 6000, gpus: 2 });
    expect(gang.node?.id).toBe('gpu-node-b');
    expect(gang.env.CUDA_VISIBLE_DEVICES.split(',')).toHaveLength(2);
    await gang.release();
  });

  it('what could never fit any live node fails at once with E_DOES_NOT_FIT and a demand event', async () => {
    const namespace = ns();
    open.push(await fakeNode(server.url, namespace, 'small', [8_000]));
    const pool = await client(namespace);
    const demand: unknown[] = [];
    pool.on('demand', (e) => demand.push(e));
    await expect(pool.acquire('OCR', { vramMiB: 40_000 })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    await waitFor(() => demand.length > 0, 'demand event', 3000);
    expect(demand[0]).toMatchObject({ tasks: { OCR: 1 }, neededMiB: 40_000, largestCapacityMiB: 8_000, reason: 'too-small' });
  });

  it('waiters queue across nodes: status --redis lists the cluster queue in order', async () => {
    const namespace = ns();
    open.push(await fakeNode(server.url, namespace, 'only', [10_000]));
    const pool = await client(namespace);
    const held = await pool.acquire('OCR', { vramMiB: 8000 });
    const waiting = [pool.acquire('OCR', { vramMiB: 8000, priority: 10, label: 'low' }), pool.acquire('OCR', { vramMiB: 8000, priority: 90, label: 'high' })];
    await waitForAsync(async () => (await collectCluster(server.url, { namespace })).queue.length === 2, 'two queued', 3000);
    const view = await collectCluster(server.url, { namespace });
    expect(view.queue.map((w) => w.holder.label)).toEqual(['high', 'low']);
    expect(formatCluster(view)).toMatch(/cluster queue: 2 waiting\n {2}#0 OCR \[high\] 1 x 8000 MiB priority 90/);
    await held.release();
    const first = await waiting[1]!;
    expect(first.label).toBe('high');
    await first.release();
    await (await waiting[0]!).release();
  });

  it("options: scope needs backend 'redis', nodes needs scope 'cluster', and no host fallback for the cluster", async () => {
    const base = { policies: { OCR: { priority: 1, vramMiB: 1 } } };
    await expect(GpuArbiter.create({ ...base, scope: 'cluster' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    const redis = { ...base, backend: 'redis' as const, redis: server.url };
    await expect(GpuArbiter.create({ ...redis, nodes: { labels: { a: 'b' } } })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(GpuArbiter.create({ ...redis, scope: 'everywhere' as never })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(GpuArbiter.create({ ...redis, scope: 'cluster', onBackendError: 'host' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(GpuArbiter.create({ ...redis, scope: 'cluster', nodes: { labels: { zone: 5 as never } } })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
    });
  });
});

describe('gpu-arbiter node', () => {
  it.each([
    [[], '--redis'],
    [['--redis', 'redis://127.0.0.1:1', '--labels', 'zone'], '--labels'],
    [['--redis', 'redis://127.0.0.1:1', '--ttl', 'soon'], '--ttl'],
    [['--redis', 'redis://127.0.0.1:1', '--max-fraction', '2'], '--max-fraction'],
    [['--redis', 'redis://127.0.0.1:1', '--node'], 'node'],
  ])('refuses %j with exit code 2 and a message naming %s', (args, named) => {
    const res = spawnSync(process.execPath, [cli, 'node', ...args], { encoding: 'utf8', timeout: 20_000 });
    expect(res.status).toBe(2);
    expect(res.stderr).toContain(named);
  });

  it('registers the GPUs NVML sees; a cluster client is placed on them; SIGKILLed, the node drops out and the lease ends node-lost', async () => {
    const namespace = ns();
    const nvml = MockNvml.create({ devices: [defaultDevice(0, { memoryTotal: 24 * GiB, memoryUsed: 2 * GiB })] });
    cleanups.push(() => nvml.cleanup());
    const agent = spawn(
      process.execPath,
      [
        cli,
        'node',
        '--redis',
        server.url,
        '--namespace',
        namespace,
        '--node-id',
        'agent-1',
        '--labels',
        'zone=eu-1,tier=l4',
        '--ttl',
        '1000',
        '--interval',
        '100',
      ],
      { env: { ...process.env, ...nvml.env() }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    cleanups.push(() => agent.kill('SIGKILL'));
    let err = '';
    agent.stderr.on('data', (d) => {
      err += d;
    });
    await waitFor(() => /1 GPU\(s\) registered/.test(err), `the agent starts (stderr: ${err})`, 10_000);
    // A second node keeps heartbeating: its heartbeats prune the lapsed agent.
    open.push(await fakeNode(server.url, namespace, 'other', [4_000], { ttlMs: 1000 }));
    const pool = await client(namespace, { nodes: { labels: { tier: 'l4' } } });
    const lease = await pool.acquire('OCR', { vramMiB: 9000 });
    expect(lease.node).toMatchObject({ id: 'agent-1', labels: { zone: 'eu-1', tier: 'l4' } });
    // Outside use from NVML is counted: 2 GiB used by nobody of ours.
    const view = await collectCluster(server.url, { namespace });
    expect(view.nodes.find((n) => n.nodeId === 'agent-1')!.gpus[0]!.use).toMatchObject({ external: 2 * 1024, declared: 9000 });
    const lost: string[] = [];
    pool.on('lease-lost', (e: { reason: string | null }) => lost.push(String(e.reason)));
    agent.kill('SIGKILL');
    await waitFor(() => lease.lost.aborted, 'node-lost', 5000);
    expect((lease.lost.reason as { details: { reason: string } }).details.reason).toBe('node-lost');
    await lease.release();
  }, 30_000);
});
