// Redis going away: stopped mid-run (SIGKILL) and restarted empty on the same port; and a
// black-holed connection that makes release fail while Redis stays up for everyone else.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isGpuArbiterError } from '../src/errors';
import { RedisLeases } from '../src/backends/redis/leases';
import type { CriticalFailureEvent, RedisGrant } from '../src/backends/redis/types';
import { holder } from './helpers/redis-lease-suite';
import { RedisServer } from './helpers/redis-server';
import { TcpProxy } from './helpers/tcp-proxy';
import { sleep, waitFor } from './helpers/wait';

let server: RedisServer;
const open: RedisLeases[] = [];
beforeAll(async () => {
  server = await RedisServer.start();
});
afterEach(async () => {
  await Promise.all(open.map((l) => l.close()));
  open.length = 0;
});
afterAll(async () => {
  await server?.stop();
});

const ns = () => `o${randomBytes(4).toString('hex')}`;
async function leases(url: string, namespace: string, extra: Record<string, unknown> = {}): Promise<RedisLeases> {
  const l = await RedisLeases.open({ redis: url, namespace, ...extra });
  open.push(l);
  return l;
}

describe('RedisLeases when Redis goes away', () => {
  it('Redis stopped mid-run: acquire fails fast, holders learn through lease.lost, waiters are not granted on a guess; recovers after restart', async () => {
    const n = ns();
    const ttl = 1500;
    const a = await leases(server.url, n, { leaseTtlMs: ttl, waiterTtlMs: 1000, commandTimeoutMs: 500 });
    const b = await leases(server.url, n, { leaseTtlMs: ttl, waiterTtlMs: 1000, commandTimeoutMs: 500 });
    await a.setResource('gpu', { capacity: 1 });
    const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    const waiter = b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() }).then(
      (x: RedisGrant) => x,
      (e: unknown) => e,
    );
    await waitFor(() => b.usage('gpu')?.waiting === 1, 'waiter queued');
    const events: string[] = [];
    a.on('renewal-failing', () => events.push('renewal-failing'));
    a.on('lease-lost', (e) => events.push(`lost:${e.reason}`));
    g.lost.addEventListener('abort', () => events.push('signal'));

    const killedAt = performance.now();
    await server.kill();

    const t0 = performance.now();
    const err = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() }).catch((e: unknown) => e);
    const failMs = performance.now() - t0;
    expect(isGpuArbiterError(err, 'E_BACKEND_UNAVAILABLE')).toBe(true);
    expect(failMs).toBeLessThan(1500);

    await waitFor(() => g.lost.aborted, 'lease lost', ttl + 3000);
    const lostMs = performance.now() - killedAt;
    expect((g.lost.reason as { code: string }).code).toBe('E_LEASE_LOST');
    expect(events[0]).toBe('renewal-failing'); // told "failing" before "lost"
    expect(events).toContain('lost:renewal-failed');
    expect(a.counters().renewalFailures).toBeGreaterThan(0);
    expect(lostMs).toBeLessThanOrEqual(ttl + 1500);

    const w = await waiter;
    expect(isGpuArbiterError(w, 'E_BACKEND_UNAVAILABLE')).toBe(true); // never granted on a guess
    console.log(
      `outage: acquire failed in ${failMs.toFixed(0)} ms; lease.lost ${lostMs.toFixed(0)} ms after Redis died (TTL ${ttl}); events ${events.join(',')}`,
    );

    await server.restart(); // same port, empty (no persistence)
    const loadsBefore = a.counters().scriptLoads;
    let g2: RedisGrant | undefined;
    const t1 = performance.now();
    while (!g2) {
      g2 = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() }).catch(() => undefined);
      if (!g2) await sleep(50);
      expect(performance.now() - t1).toBeLessThan(10_000);
    }
    console.log(`outage: first grant ${(performance.now() - t1).toFixed(0)} ms after Redis restarted`);
    expect(a.counters().scriptLoads).toBeGreaterThan(loadsBefore); // NOSCRIPT -> EVAL once
    expect(g2.fencingToken).toBeGreaterThan(g.fencingToken); // fencing survives the data loss
    expect(await g.release()).toBe('already-released');
    expect(a.counters().ownershipViolations).toBe(0);
    await g2.release();
    // b recovers too, with no restart of anything.
    const g3 = await b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    expect(g3.fencingToken).toBeGreaterThan(g2.fencingToken);
    await g3.release();
  }, 30_000);

  it('release failures are retried, counted and reported through onCriticalFailure; the lease still ends by TTL', async () => {
    const n = ns();
    const ttl = 1500;
    const proxy = await TcpProxy.start(server.port);
    try {
      const critical: CriticalFailureEvent[] = [];
      const far = await leases(proxy.url, n, {
        leaseTtlMs: ttl,
        commandTimeoutMs: 300,
        releaseRetries: 2,
        onCriticalFailure: (e: CriticalFailureEvent) => critical.push(e),
      });
      const near = await leases(server.url, n);
      await near.setResource('gpu', { capacity: 1 });
      const g = await far.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const next = near.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      await waitFor(() => near.usage('gpu')?.waiting === 1, 'waiter queued');

      proxy.blackhole();
      const t0 = performance.now();
      expect(await g.release()).toBe('release-failed');
      expect(far.counters().releaseFailures).toBe(1);
      expect(critical).toHaveLength(1);
      expect(critical[0]).toMatchObject({ kind: 'release-failed', resource: 'gpu', token: g.token, attempts: 3 });
      expect(critical[0]!.error.code).toBe('E_BACKEND_UNAVAILABLE');

      const g2 = await next; // granted once the unreleased lease's TTL runs out
      const ms = performance.now() - t0;
      console.log(`release failed (3 attempts); the lease ended by TTL: next holder granted ${ms.toFixed(0)} ms after the release attempt`);
      expect(ms).toBeLessThan(ttl + 1500);
      proxy.heal();
      await g2.release();
      // The far side recovers on its own once the path is back.
      let g3: RedisGrant | undefined;
      const t1 = performance.now();
      while (!g3) {
        g3 = await far.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() }).catch(() => undefined);
        if (!g3) await sleep(50);
        expect(performance.now() - t1).toBeLessThan(10_000);
      }
      expect(await g3.release()).toBe('released');
    } finally {
      await proxy.stop();
    }
  }, 30_000);
});
