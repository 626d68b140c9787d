// GpuArbiter on Redis when Redis goes away and comes back (a real redis-server, SIGKILLed and
// restarted empty on the same port): E_BACKEND_UNAVAILABLE, lease.lost, recovery without a
// restart of ours, the host fallback (the host backend, and a LocalBackend in its place), and the
// metrics and alerts of each.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { CriticalFailure } from '../src/arbiter/options';
import type { Alert } from '../src/observe/alerts';
import { hostLedgerNamespace } from '../src/backends/failover';
import { HostBackend } from '../src/backends/host/backend';
import { LocalBackend } from '../src/backends/local/backend';
import { inspectHostNamespace, removeHostNamespace } from '../src/backends/host/namespaces';
import type { MetricFamily } from '../src/metrics/counters';
import { fakeGpus, GiB } from './helpers/fake-monitor';
import { debugCommandArgs, RedisServer } from './helpers/redis-server';
import { TcpProxy } from './helpers/tcp-proxy';
import { sleep, waitFor } from './helpers/wait';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start(debugCommandArgs());
});
afterAll(async () => {
  await server?.stop();
});

const open: GpuArbiter[] = [];
afterEach(async () => {
  if (!server.running) await server.restart();
  await Promise.all(open.map((a) => a.close()));
  open.length = 0;
});

function metric(a: GpuArbiter, name: string): number {
  const f = a.metrics().find((m: MetricFamily) => m.name === name);
  if (f === undefined) throw new Error(`no metric ${name}`);
  return (f.samples as Array<{ value: number }>).reduce((s, x) => s + x.value, 0);
}

async function make(extra: Record<string, unknown> = {}): Promise<GpuArbiter> {
  const a = await GpuArbiter.create({
    backend: 'redis',
    redis: server.url,
    namespace: `o${randomBytes(4).toString('hex')}`,
    nodeId: 'node-a',
    registerNode: false,
    monitor: fakeGpus({ totalMiB: 16 * GiB, uuid: 'GPU-a' }),
    maxFraction: 1,
    policies: {
      JOB: { priority: 50, vramMiB: 4 * GiB, maxWaitMs: 200 },
      CPU_OK: { priority: 10, vramMiB: 1 * GiB, maxWaitMs: 200, busyPolicy: 'FALLBACK_CPU' },
    },
    redisOptions: { commandTimeoutMs: 500, waiterTtlMs: 300 },
    ...extra,
  });
  a.on('warning', () => undefined);
  open.push(a);
  return a;
}

describe('GpuArbiter on Redis: outages', () => {
  it('acquire fails with E_BACKEND_UNAVAILABLE while Redis is down and works again once it is back, with no restart', async () => {
    const a = await make({ leaseTtlMs: 1000 });
    const events: string[] = [];
    a.on('backend-down', () => events.push('down'));
    a.on('backend-up', () => events.push('up'));
    (await a.acquire('JOB')).release();
    expect(metric(a, 'gpu_arbiter_backend_available')).toBe(1);

    await server.kill();
    await waitFor(() => events.includes('down'), 'backend-down');
    expect(metric(a, 'gpu_arbiter_backend_available')).toBe(0);
    await expect(a.acquire('JOB')).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    expect(a.snapshot().counters.tasks.JOB!.error).toBe(1);
    // FALLBACK_CPU work runs on the CPU meanwhile.
    expect(await a.run('CPU_OK', () => 'gpu', { fallback: () => 'cpu' })).toEqual({
      status: 'fell-back',
      value: 'cpu',
      reason: 'E_BACKEND_UNAVAILABLE',
    });

    // Restarted empty (no persistence): the arbiter writes its GPUs' capacity again by itself
    // (on backend-up, and on the first request that finds the resource gone). Grants wait one
    // lease TTL first (the pool's epoch hold: a lease of before the loss may still be believed).
    await server.restart();
    await waitFor(() => events.includes('up'), 'backend-up', 5000);
    const lease = await a.acquire('JOB', { maxWaitMs: 5000 });
    expect(lease.device.index).toBe(0);
    await lease.release();
    expect(metric(a, 'gpu_arbiter_backend_available')).toBe(1);
  });

  it('holders learn through lease.lost when renewal can no longer succeed; renewal failures and the loss are counted and alerted', async () => {
    const critical: CriticalFailure[] = [];
    const a = await make({ leaseTtlMs: 600, onCriticalFailure: (e: CriticalFailure) => critical.push(e) });
    const lostEvents: unknown[] = [];
    let renewalFailing = 0;
    a.on('lease-lost', (e) => lostEvents.push(e));
    a.on('renewal-failing', () => renewalFailing++);
    const lease = await a.acquire('JOB');
    await server.kill();
    await waitFor(() => lease.lost.aborted, 'lease.lost', 3000);
    expect(lease.lost.reason).toMatchObject({ code: 'E_LEASE_LOST' });
    expect(lostEvents).toEqual([{ lease: expect.objectContaining({ id: lease.id, task: 'JOB' }), reason: 'renewal-failed' }]);
    expect(renewalFailing).toBeGreaterThan(0);
    expect(metric(a, 'gpu_arbiter_renewal_failures_total')).toBeGreaterThan(0);
    expect(metric(a, 'gpu_arbiter_lease_lost_total')).toBe(1);
    expect(critical).toEqual([expect.objectContaining({ kind: 'lease-lost', task: 'JOB', reason: 'renewal-failed' })]);
    // Releasing a lost lease does not throw (it may fail to reach Redis: counted, not thrown).
    await lease.release();
  });

  it('a release that cannot reach Redis is counted as a release failure and alerted; the caller is not thrown at', async () => {
    const critical: CriticalFailure[] = [];
    const a = await make({ onCriticalFailure: (e: CriticalFailure) => critical.push(e), redisOptions: { releaseRetries: 1, commandTimeoutMs: 300 } });
    const lease = await a.acquire('JOB');
    await server.kill();
    await lease.release();
    expect(metric(a, 'gpu_arbiter_release_failures_total')).toBe(1);
    expect(critical).toEqual([expect.objectContaining({ kind: 'release-failed', fencingToken: lease.fencingToken })]);
  });

  it.each([
    ['a LocalBackend', () => new LocalBackend()],
    ['the HostBackend', () => new HostBackend({ namespace: `test-fallback-${process.pid}-${randomBytes(4).toString('hex')}` })],
  ] as const)(
    "onBackendError 'host' (%s): while Redis is down acquires go to the fallback; after it is back they go to Redis; fallback leases are released to the fallback",
    async (_name, makeFallback) => {
      const local = makeFallback();
      const a = await make({ onBackendError: 'host', fallback: () => local, leaseTtlMs: 1000 });
      if (local instanceof HostBackend) onTestFinished(() => void removeHostNamespace(local.namespace));
      const resource = 'node-a/gpu0';

      const first = await a.acquire('JOB');
      expect(local.usage(resource)?.declared).toBe(0); // granted by Redis

      await server.kill();
      await waitFor(() => metric(a, 'gpu_arbiter_backend_available') === 0, 'backend down');
      const during = await a.acquire('JOB');
      expect(local.usage(resource)?.declared).toBe(4 * GiB); // granted by the fallback
      expect(during.fencingToken).toBeGreaterThan(0);

      await server.restart();
      await waitFor(() => metric(a, 'gpu_arbiter_backend_available') === 1, 'backend up', 5000);
      await waitFor(() => a.snapshot().devices[0]?.usable === true, 'GPU usable');
      const after = await a.acquire('JOB', { maxWaitMs: 5000 }); // after the epoch hold (one lease TTL)
      expect(local.usage(resource)?.declared).toBe(4 * GiB); // Redis again, not the fallback
      // Nothing was granted by Redis on a guess: after the restart it holds only `after`.
      const view = await a.cluster();
      expect(view.otherResources.find((r) => r.resource === resource)?.use.holders).toBe(1);

      await during.release();
      expect(local.usage(resource)?.declared).toBe(0); // released to the fallback
      await after.release();
      await first.release(); // held before the outage; Redis lost it with its data
      expect(a.snapshot().counters.tasks.JOB!.acquired).toBe(3);
    },
  );

  it("onBackendError 'host' without a fallback factory falls back on the host backend (the namespace's host ledger)", async () => {
    const namespace = `o${randomBytes(4).toString('hex')}`;
    const a = await GpuArbiter.create({
      backend: 'redis',
      redis: server.url,
      namespace,
      nodeId: 'node-x',
      onBackendError: 'host',
      registerNode: false,
      monitor: fakeGpus({ totalMiB: 16 * GiB }),
      policies: { JOB: { priority: 1, vramMiB: 1 } },
    });
    try {
      const ledger = inspectHostNamespace(namespace);
      expect(ledger.processes.map((p) => p.pid)).toEqual([process.pid]);
      expect(ledger.resources.map((r) => [r.name, r.capacity])).toEqual([['node-x/gpu0', 15564]]);
    } finally {
      await a.close();
      removeHostNamespace(namespace);
    }
    expect(hostLedgerNamespace('prod:eu/1')).toBe('prod_eu_1');
    expect(hostLedgerNamespace('_x')).toBe('r_x');
  });
});

describe('GpuArbiter on Redis: issue 13', () => {
  it('a release sent during an outage that lands on the restarted, empty Redis raises no ownership-violation alert', async () => {
    const proxy = await TcpProxy.start(server.port);
    onTestFinished(() => proxy.stop());
    // The arbiter reaches Redis through a proxy that holds its commands back; its release
    // retries for about 12 s (backoff 50 ms .. 6.4 s).
    const a = await make({ redis: proxy.url, leaseTtlMs: 1000, redisOptions: { commandTimeoutMs: 300, waiterTtlMs: 300, releaseRetries: 8 } });
    const alerts: Alert[] = [];
    a.on('alert', (x: Alert) => alerts.push(x));
    const lease = await a.acquire('JOB');
    proxy.blackhole();
    const released = lease.release();
    await server.restart(); // empty: no persistence
    proxy.heal();
    await released;
    await waitFor(() => metric(a, 'gpu_arbiter_backend_available') === 1, 'backend up', 5000);
    await a.configure({}); // a sample: the arbiter looks at the ownership violations counted since the last one
    expect(metric(a, 'gpu_arbiter_ownership_violations_total')).toBe(0);
    expect(metric(a, 'gpu_arbiter_release_failures_total')).toBe(0);
    expect(alerts.filter((x) => x.kind === 'ownership-violation')).toEqual([]);
    const again = await a.acquire('JOB', { maxWaitMs: 5000 }); // and the GPU is free again (after the epoch hold)
    await again.release();
  }, 30_000);

  it('acquire() during a Redis stall (DEBUG SLEEP longer than half the lease TTL) never resolves with a lost lease', async () => {
    const ttl = 1000;
    const a = await make({ leaseTtlMs: ttl, redisOptions: { commandTimeoutMs: 5000, waiterTtlMs: 1000 } });
    const lost: unknown[] = [];
    a.on('lease-lost', (e) => lost.push(e));
    const raw = new Redis(server.url);
    raw.on('error', () => undefined);
    onTestFinished(() => raw.disconnect());
    const stall = raw.call('DEBUG', 'SLEEP', '1.5');
    await sleep(100);
    const lease = await a.acquire('JOB', { maxWaitMs: 5000 });
    expect(lease.lost.aborted).toBe(false);
    await stall;
    await sleep(ttl * 1.5);
    expect(lease.lost.aborted).toBe(false);
    expect(lost).toEqual([]);
    await lease.release();
  }, 20_000);
});
