import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { fakeGpus, GiB, flush } from './helpers/fake-monitor';

let arbiter: GpuArbiter;
beforeEach(async () => {
  vi.useFakeTimers();
  arbiter = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB }),
    policies: {
      TELL: { priority: 50, vramMiB: 1 * GiB, holdMaxMs: 1000 },
      TAKE: { priority: 50, vramMiB: 15 * GiB, holdMaxMs: 1000, revokeOnHoldMax: true, revokeGraceMs: 500 },
    },
  });
});
afterEach(async () => {
  await arbiter.close();
  vi.useRealTimers();
});

describe('watchdog', () => {
  it('emits watchdog and counts it when holdMaxMs is exceeded, but does not take the lease by default', async () => {
    const seen: unknown[] = [];
    arbiter.on('watchdog', (e) => seen.push(e));
    const lease = await arbiter.acquire('TELL');
    await vi.advanceTimersByTimeAsync(999);
    expect(seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toEqual([
      expect.objectContaining({
        holdMaxMs: 1000,
        heldMs: 1000,
        willRevoke: false,
        lease: expect.objectContaining({ id: lease.id }),
      }),
    ]);
    expect(arbiter.snapshot().counters.tasks.TELL!.watchdog).toBe(1);
    expect(arbiter.snapshot().holders[0]).toMatchObject({ watchdogFired: true, holdMaxMs: 1000 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(lease.lost.aborted).toBe(false);
    expect(seen).toHaveLength(1);
    await lease.release();
  });

  it('with revokeOnHoldMax aborts lease.lost after the grace period and frees the GPU', async () => {
    const lost: unknown[] = [];
    arbiter.on('lease-lost', (e) => lost.push(e));
    const lease = await arbiter.acquire('TAKE');
    const next = arbiter.acquire('TAKE');
    await vi.advanceTimersByTimeAsync(1000);
    expect(lease.lost.aborted).toBe(false); // told, not yet taken
    await vi.advanceTimersByTimeAsync(500);
    expect(lease.lost.aborted).toBe(true);
    expect(lease.lost.reason).toMatchObject({ code: 'E_LEASE_LOST' });
    expect(lost).toEqual([{ lease: expect.objectContaining({ id: lease.id }), reason: 'revoked' }]);
    const second = await next;
    expect(second.fencingToken).toBeGreaterThan(lease.fencingToken);
    await lease.release(); // late release of a revoked lease is harmless
    await flush();
    expect(arbiter.snapshot().holders.map((h) => h.leaseId)).toEqual([second.id]);
    expect(arbiter.metrics().find((f) => f.name === 'gpu_arbiter_lease_lost_total')).toMatchObject({ samples: [{ value: 1 }] });
    await second.release();
  });

  it('a lease released in time arms nothing', async () => {
    const seen: unknown[] = [];
    arbiter.on('watchdog', (e) => seen.push(e));
    const lease = await arbiter.acquire('TAKE');
    await vi.advanceTimersByTimeAsync(900);
    await lease.release();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(seen).toEqual([]);
    expect(lease.lost.aborted).toBe(false);
  });
});
