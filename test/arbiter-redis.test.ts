// GpuArbiter.create({ backend: 'redis' }) on a real redis-server: option validation, how GPUs map
// to Redis resources, admission across two processes sharing one GPU, cluster(), metrics.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { LocalBackend } from '../src/backends/local/backend';
import { RedisBackend } from '../src/backends/redis/backend';
import type { MetricFamily } from '../src/metrics/counters';
import { fakeGpus, GiB, sample } from './helpers/fake-monitor';
import { killAll, spawnLeaseClient, type LeaseChild } from './helpers/redis-children';
import { RedisServer } from './helpers/redis-server';
import { waitFor, waitForAsync } from './helpers/wait';

const ARBITER_CLIENT = path.resolve(__dirname, 'fixtures/redis/arbiter-client.cjs');

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});

const open: GpuArbiter[] = [];
const children: LeaseChild[] = [];
afterEach(async () => {
  killAll(children);
  await Promise.all(open.map((a) => a.close()));
  open.length = 0;
});

const ns = () => `a${randomBytes(4).toString('hex')}`;
const policies = { ASR: { priority: 90, vramMiB: 4 * GiB, maxWaitMs: 2000 } };

async function make(extra: Record<string, unknown> = {}): Promise<GpuArbiter> {
  const a = await GpuArbiter.create({
    backend: 'redis',
    redis: server.url,
    namespace: ns(),
    nodeId: 'node-a',
    monitor: fakeGpus({ totalMiB: 16 * GiB, uuid: 'GPU-a0' }, { totalMiB: 8 * GiB, uuid: 'GPU-a1' }),
    policies,
    ...extra,
  });
  open.push(a);
  return a;
}

function metric(a: GpuArbiter, name: string): number {
  const f = a.metrics().find((m: MetricFamily) => m.name === name);
  if (f === undefined) throw new Error(`no metric ${name}`);
  return (f.samples as Array<{ value: number }>).reduce((s, x) => s + x.value, 0);
}

describe("GpuArbiter.create({ backend: 'redis' }) validation", () => {
  const base = { policies, monitor: fakeGpus({ totalMiB: 8 * GiB }) };
  it.each([
    [{ backend: 'redis' }, 'for options.redis but received undefined'],
    [{ backend: 'redis', redis: 'http://x' }, 'Expected a redis:// or rediss:// URL for options.redis but received "http://x"'],
    [{ backend: 'redis', redis: 'redis://x', namespace: 'a{b}' }, 'for options.namespace but received "a{b}"'],
    [{ backend: 'redis', redis: 'redis://x', namespace: '' }, 'options.namespace'],
    [{ backend: 'redis', redis: 'redis://x', leaseTtlMs: 5 }, 'Expected an integer from 100 to 86400000 for options.leaseTtlMs but received 5'],
    [{ backend: 'redis', redis: 'redis://x', nodeId: 'n|1' }, 'for options.nodeId but received "n|1"'],
    [{ backend: 'redis', redis: 'redis://x', registerNode: 'yes' }, 'options.registerNode'],
    [{ backend: 'redis', redis: 'redis://x', registerNode: { ttlMs: 1 } }, 'for options.registerNode.ttlMs but received 1'],
    [{ backend: 'redis', redis: 'redis://x', registerNode: { every: 1 } }, 'options.registerNode'],
    [{ backend: 'redis', redis: 'redis://x', nodeId: 'a', registerNode: { nodeId: 'b' } }, 'for options.registerNode.nodeId but received "b"'],
    [{ backend: 'redis', redis: 'redis://x', onBackendError: 'retry' }, `Expected 'fail' or 'host' for options.onBackendError but received "retry"`],
    [{ backend: 'redis', redis: 'redis://x', fallback: () => null }, 'options.fallback'],
    [{ backend: 'redis', redis: 'redis://x', onBackendError: 'host', fallback: 'local' }, 'for options.fallback but received "local"'],
    [{ backend: 'redis', redis: 'redis://x', onCriticalFailure: 1 }, 'Expected a function for options.onCriticalFailure but received 1'],
    [{ backend: 'redis', redis: 'redis://x', redisOptions: { commandTimeoutMs: 0 } }, 'options.redisOptions.commandTimeoutMs'],
    [{ backend: 'redis', redis: 'redis://x', agingMs: 100 }, 'options.agingMs'],
    [{ redis: 'redis://x' }, `Expected nothing unless options.backend is 'redis' for options.redis`],
    [{ backend: 'local', onBackendError: 'host' }, 'options.onBackendError'],
  ])('refuses %j naming the field', async (opts, message) => {
    await expect(GpuArbiter.create({ ...base, ...(opts as object) } as never)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining(message),
    });
  });

  it('fails with E_BACKEND_UNAVAILABLE when Redis cannot be reached at create()', async () => {
    await expect(GpuArbiter.create({ ...base, backend: 'redis', redis: 'redis://127.0.0.1:1', redisOptions: { connectTimeoutMs: 300 } })).rejects.toMatchObject(
      { code: 'E_BACKEND_UNAVAILABLE' },
    );
  });

  it('redis options cannot change at run time', async () => {
    const a = await make({ registerNode: false });
    await expect(a.configure({ namespace: 'x' } as never)).rejects.toThrow('config.namespace cannot change at run time');
  });
});

describe('GpuArbiter on Redis', () => {
  it("maps this node's GPUs to <nodeId>/gpu<index> resources and leases them like the local backend", async () => {
    const a = await make({ registerNode: false });
    expect(a.backendKind).toBe('redis');
    expect(a.nodeId).toBe('node-a');
    const lease = await a.acquire('ASR');
    expect(lease.device).toMatchObject({ index: 1, uuid: 'GPU-a1' }); // binpack: the 8 GiB GPU
    expect(lease.env.CUDA_VISIBLE_DEVICES).toBe('GPU-a1');
    await a.configure({}); // a sample: re-reads the ledger
    const snap = a.snapshot();
    expect(snap.holders).toEqual([expect.objectContaining({ resource: 'node-a/gpu1', device: 1, task: 'ASR', own: true })]);
    expect(snap.devices.map((d) => d.declaredMiB)).toEqual([0, 4 * GiB]);
    await lease.release();
    expect(metric(a, 'gpu_arbiter_backend_available')).toBe(1);
    expect(a.snapshot().counters.tasks.ASR!.acquired).toBe(1);
  });

  it('waits in Redis: priority order, a waiter moves to the GPU that frees first, run() applies SKIP', async () => {
    const a = await make({
      registerNode: false,
      policies: {
        BIG: { priority: 10, vramMiB: 7 * GiB },
        HI: { priority: 90, vramMiB: 7 * GiB, maxWaitMs: 5000 },
        LO: { priority: 5, vramMiB: 7 * GiB, maxWaitMs: 5000 },
        SKIPPY: { priority: 1, vramMiB: 7 * GiB, busyPolicy: 'SKIP', maxWaitMs: 0 },
      },
    });
    // 16 GiB (capacity 15.2) and 8 GiB (7.6): two 7 GiB on GPU 0, one on GPU 1 fill both.
    const held = [await a.acquire('BIG'), await a.acquire('BIG'), await a.acquire('BIG')];
    expect(held.map((l) => l.device.index).sort()).toEqual([0, 0, 1]);
    expect(await a.run('SKIPPY', () => 'ran')).toEqual({ status: 'skipped', reason: 'E_TIMEOUT' });
    const order: string[] = [];
    const lo = a.acquire('LO').then((l) => {
      order.push('LO');
      return l;
    });
    const hi = a.acquire('HI').then((l) => {
      order.push('HI');
      return l;
    });
    // Both are queued in Redis before a GPU frees (configure({}) is a sample: it re-reads the ledger).
    await waitForAsync(async () => {
      await a.configure({});
      return a.snapshot().queues.reduce((n, q) => n + q.waiters.length, 0) === 2;
    }, 'LO and HI to be queued in Redis');
    // GPU 1 frees: the high-priority waiter gets it whichever GPU it queued on.
    await held.find((l) => l.device.index === 1)!.release();
    const hiLease = await hi;
    expect(hiLease.device.index).toBe(1);
    expect(order).toEqual(['HI']);
    await held.find((l) => l.device.index === 0)!.release();
    const loLease = await lo;
    expect(loLease.device.index).toBe(0);
    for (const l of [...held, hiLease, loLease]) await l.release();
    expect(a.snapshot().counters.tasks.SKIPPY!.skipped).toBe(1);
  });

  it('cluster() lists live nodes with capacity and use; a closed arbiter leaves the list', async () => {
    const namespace = ns();
    const a = await make({ namespace });
    const b = await make({
      namespace,
      nodeId: undefined,
      registerNode: { nodeId: 'node-b', ttlMs: 5000 },
      monitor: fakeGpus({ totalMiB: 24 * GiB, uuid: 'GPU-b0' }),
    });
    const lease = await b.acquire('ASR');
    const view = await a.cluster();
    expect(view.nodes.map((n) => n.nodeId)).toEqual(['node-a', 'node-b']);
    const nodeB = view.nodes[1]!;
    expect(nodeB.gpus).toEqual([
      expect.objectContaining({
        index: 0,
        uuid: 'GPU-b0',
        totalMiB: 24 * GiB,
        resource: 'node-b/gpu0',
        use: expect.objectContaining({ capacity: Math.floor(24 * GiB * 0.95), declared: 4 * GiB, holders: 1 }),
      }),
    ]);
    expect(view.nodes[0]!.gpus.map((g) => g.resource)).toEqual(['node-a/gpu0', 'node-a/gpu1']);
    await lease.release();
    await b.close();
    expect((await a.cluster()).nodes.map((n) => n.nodeId)).toEqual(['node-a']);
  });

  it('cluster() needs the redis backend', async () => {
    const a = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 8 * GiB }), policies });
    open.push(a);
    await expect(a.cluster()).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringContaining("backend 'redis'") });
  });

  it('counts refused releases of the Redis ledger as ownership violations', async () => {
    const backend = await RedisBackend.open({ redis: server.url, namespace: ns() });
    const a = await GpuArbiter.create({ backend, monitor: fakeGpus({ totalMiB: 16 * GiB }), policies });
    open.push(a);
    const lease = await a.acquire('ASR');
    expect(await backend.release('gpu:0', 'f'.repeat(32))).toBe('not-owner');
    expect(metric(a, 'gpu_arbiter_ownership_violations_total')).toBe(1);
    await lease.release();
    await backend.close();
  });

  it('two arbiters in two processes share one GPU through Redis: exactly one of two 4 GiB jobs is admitted with 6 GiB free', async () => {
    const namespace = ns();
    const config = { redis: server.url, namespace, nodeId: 'shared', gpu: { totalMiB: 16 * GiB, usedMiB: 10 * GiB, uuid: 'GPU-s' }, vramMiB: 4 * GiB };
    const p1 = spawnLeaseClient(config, ARBITER_CLIENT);
    const p2 = spawnLeaseClient(config, ARBITER_CLIENT);
    children.push(p1, p2);
    await Promise.all([p1.line(/^ready$/), p2.line(/^ready$/)]);
    p1.send('go');
    p2.send('go');
    const answers = await Promise.all([p1.line(/^(granted|refused)/), p2.line(/^(granted|refused)/)]);
    expect(answers.filter((l) => l.startsWith('granted'))).toHaveLength(1);
    expect(answers.filter((l) => l.startsWith('refused'))).toEqual(['refused E_BUSY']);
    // The GPU's 6 GiB are the two processes' to share: after the holder releases, the other gets in.
    const [winner, loser] = answers[0]!.startsWith('granted') ? [p1, p2] : [p2, p1];
    winner.send('release');
    await winner.line(/^released$/);
    loser.send('go');
    await loser.line(/^granted/);
    // A third arbiter (this process) on the same node sees the holder in Redis.
    const view = await (await make({ namespace, nodeId: 'observer', registerNode: false })).cluster();
    const shared = view.nodes.find((n) => n.nodeId === 'shared')!;
    expect(shared.gpus[0]!.use).toMatchObject({ declared: 4 * GiB, holders: 1, external: 10 * GiB });
    for (const c of [p1, p2]) c.send('exit');
    await Promise.all([p1.exited, p2.exited]);
  }, 30_000);
});

describe('GpuArbiter on Redis: per-call sizing (issue 14, part 1)', () => {
  it("vramMiB, priority and label per call; another arbiter on the node sees the job's label; gpus: 2 takes both GPUs of the node", async () => {
    const namespace = ns();
    const a = await make({ namespace, nodeId: 'node-p' });
    const monitor = fakeGpus({ totalMiB: 16 * GiB, uuid: 'GPU-a0' }, { totalMiB: 8 * GiB, uuid: 'GPU-a1' });
    const b = await make({ namespace, nodeId: 'node-p', registerNode: false, monitor });
    const lease = await a.acquire('ASR', { vramMiB: 7 * GiB, priority: 10, label: { job: 'call-7', stage: 'asr' } });
    expect(lease.vramMiB).toBe(7 * GiB);
    // b reads Redis on every sample of its monitor.
    await waitForAsync(async () => {
      await sample(monitor);
      return b.snapshot().holders.length === 1;
    }, 'the other arbiter to see the hold');
    expect(b.snapshot().holders[0]).toMatchObject({ own: false, vramMiB: 7 * GiB, label: 'job=call-7 stage=asr' });
    await expect(a.acquire('ASR', { vramMiB: 17 * GiB })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    await lease.release();
    const pair = await a.acquire('ASR', { gpus: 2, vramMiB: 4 * GiB });
    expect(pair.devices.map((d) => d.index)).toEqual([0, 1]);
    expect(pair.env.CUDA_VISIBLE_DEVICES).toBe('GPU-a0,GPU-a1');
    await pair.release();
    await expect(a.acquire('ASR', { gpus: 3 })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
  });
});

describe('GpuArbiter on Redis: issue 13', () => {
  const PASSWORD = 'arb1ter-s3cret';
  let secure: RedisServer;
  beforeAll(async () => {
    secure = await RedisServer.start(['--requirepass', PASSWORD]);
  });
  afterAll(async () => {
    await secure?.stop();
  });
  const deep = (value: unknown) => inspect(value, { depth: Infinity, showHidden: true, getters: true });

  it("a release by the lease's token from another client ends it like revoke(): lease.lost aborts at once, 'lease-lost' says revoked", async () => {
    const namespace = ns();
    const a = await make({ namespace, registerNode: false, leaseTtlMs: 30_000 });
    const lost: Array<{ reason: string }> = [];
    a.on('lease-lost', (e) => lost.push(e as { reason: string }));
    const lease = await a.acquire('ASR');
    const other = await RedisBackend.open({ redis: server.url, namespace });
    try {
      const t0 = performance.now();
      expect(await other.release(lease.grant.resource, lease.grant.token)).toBe('released');
      await waitFor(() => lease.lost.aborted, 'lease.lost', 1000, 1); // its renewal would take 10 s
      console.log(`arbiter lease released by token elsewhere: lost ${(performance.now() - t0).toFixed(1)} ms later`);
      expect(lost).toEqual([expect.objectContaining({ reason: 'revoked' })]);
      expect(metric(a, 'gpu_arbiter_ownership_violations_total')).toBe(0);
    } finally {
      await other.close();
      await lease.release();
    }
  });

  it('util.inspect of an arbiter (plain, and with the host fallback) never shows the Redis password', async () => {
    const url = `redis://:${PASSWORD}@127.0.0.1:${secure.port}`;
    const plain = await make({ redis: url, registerNode: false });
    const withFallback = await make({ redis: url, registerNode: false, onBackendError: 'host', fallback: () => new LocalBackend() });
    const lease = await plain.acquire('ASR');
    for (const a of [plain, withFallback]) {
      expect(deep(a)).not.toContain(PASSWORD);
      expect(deep(a.snapshot())).not.toContain(PASSWORD);
    }
    expect(deep(lease)).not.toContain(PASSWORD);
    await lease.release();
  });

  it('a URL with a password that does not parse is refused with E_INVALID_ARGUMENT, masked', async () => {
    const err = await GpuArbiter.create({
      backend: 'redis',
      redis: `redis://:${PASSWORD}@[::1`,
      monitor: fakeGpus({ totalMiB: 8 * GiB }),
      policies,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_INVALID_ARGUMENT', message: expect.stringContaining('redis://:***@[::1') });
    expect(deep(err)).not.toContain(PASSWORD);
  });

  it("a wrong password fails create() at once with E_BACKEND_UNAVAILABLE and Redis's reply", async () => {
    const t0 = performance.now();
    const err = await GpuArbiter.create({
      backend: 'redis',
      redis: `redis://:wrong@127.0.0.1:${secure.port}`,
      monitor: fakeGpus({ totalMiB: 8 * GiB }),
      policies,
      redisOptions: { connectTimeoutMs: 5000 },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_BACKEND_UNAVAILABLE', message: expect.stringMatching(/refused the credentials: WRONGPASS/) });
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('a namespace or node id a Redis key cannot hold is refused at create()', async () => {
    const base = { backend: 'redis', redis: server.url, monitor: fakeGpus({ totalMiB: 8 * GiB }), policies } as const;
    await expect(GpuArbiter.create({ ...base, namespace: 'n'.repeat(129) })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('at most 128 characters for options.namespace'),
    });
    await expect(GpuArbiter.create({ ...base, nodeId: 'n'.repeat(201) })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('at most 200 characters for options.nodeId'),
    });
  });
});
