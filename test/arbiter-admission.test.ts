// Memory-aware admission against a simulated GPU (sizes in MiB). The same scenarios over the mock
// NVML and the real GpuMonitor belong in an integration suite once the monitor is merged.
import { describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { LocalBackend } from '../src/backends/local/backend';
import type { GpuArbiterOptions } from '../src/arbiter/options';
import { admitDevice } from '../src/policy/admission';
import { fakeGpus, GiB, OUTSIDER, sample, state } from './helpers/fake-monitor';
import type { SimulatedGpu } from '../src/gpu/simulated';
import { closeAfterEach } from './helpers/close-after-each';

const arbiters = closeAfterEach<GpuArbiter>();

async function make(monitor: SimulatedGpu, options: Partial<GpuArbiterOptions> = {}): Promise<GpuArbiter> {
  const a = await GpuArbiter.create({
    monitor,
    maxFraction: 1,
    policies: {
      BIG: { priority: 50, vramMiB: 8 * GiB },
      MID: { priority: 50, vramMiB: 5 * GiB },
      FOUR: { priority: 50, vramMiB: 4 * GiB },
      ONE: { priority: 50, vramMiB: 1 * GiB },
    },
    ...options,
  });
  arbiters.push(a);
  return a;
}

describe('memory-aware admission', () => {
  it('16 GiB GPU with 10 GiB used by an outside process: 8 GiB is not admitted, 5 GiB is', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 10 * GiB }] });
    const a = await make(gpu);
    await expect(a.acquire('BIG', { maxWaitMs: 0 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    const lease = await a.acquire('MID');
    expect(lease.vramMiB).toBe(5 * GiB);
    expect(a.snapshot().devices[0]).toMatchObject({ unaccountedMiB: 10 * GiB, declaredMiB: 5 * GiB, budgetMiB: 1 * GiB });
    await lease.release();
  });

  it('maxFraction caps what is granted', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 10 * GiB }] });
    const a = await make(gpu, { maxFraction: 0.9 }); // 14.4 GiB - 10 GiB = 4.4 GiB
    await expect(a.acquire('MID', { maxWaitMs: 0 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    await (await a.acquire('FOUR')).release();
  });

  it('two arbiters sharing one ledger, 4 GiB each with 6 GiB free: exactly one is admitted until the other releases', async () => {
    // NVML never sees either allocation (the state does not change): the ledger alone decides.
    const gpu = fakeGpus({ totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 10 * GiB }] });
    const ledger = new LocalBackend();
    const a = await make(gpu, { backend: ledger });
    const b = await make(gpu, { backend: ledger });
    const first = await a.acquire('FOUR', { pid: 1001 });
    const second = b.acquire('FOUR', { pid: 1002 });
    await sample(gpu);
    expect(await state(second)).toBe('pending');
    expect(b.snapshot().holders.map((h) => h.pid)).toEqual([1001]);
    await first.release();
    const got = await second;
    expect(got.pid).toBe(1002);
    await got.release();
    await ledger.close();
  });

  it('an outside process freeing memory lets a waiter in on the next sample, with no call from the user', async () => {
    vi.useFakeTimers();
    try {
      const gpu = fakeGpus({ totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 10 * GiB }] });
      const a = await make(gpu);
      const waiter = a.acquire('BIG');
      expect(await state(waiter)).toBe('pending');
      await vi.advanceTimersByTimeAsync(250);
      gpu.setDevice(0, { processes: [{ pid: OUTSIDER, usedMiB: 2 * GiB }] });
      expect(await state(waiter)).toBe('pending'); // not until the monitor samples
      await sample(gpu);
      const lease = await waiter;
      // The lease counts its wait from the request to the sample that let it in (250 ms on the
      // fake clock). Fails if the wait is lost (0, as for a grant at once), counted from the
      // sample, or counted in other units - which the old `>= 0` could never catch.
      expect(lease.waitedMs).toBe(250);
      expect(lease.vramMiB).toBe(8 * GiB);
      await lease.release();
    } finally {
      vi.useRealTimers();
    }
  });

  it('trusts the ledger for its own holders: memory they allocated is not counted twice', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB, processes: [] });
    const a = await make(gpu);
    const big = await a.acquire('BIG', { pid: 2001 });
    gpu.setDevice(0, { processes: [{ pid: 2001, usedMiB: 6 * GiB }] }); // allocated 6 of its 8
    await sample(gpu);
    expect(a.snapshot().devices[0]).toMatchObject({ declaredMiB: 8 * GiB, unaccountedMiB: 0, budgetMiB: 8 * GiB });
    const mid = await a.acquire('MID', { maxWaitMs: 0 });
    await mid.release();
    await big.release();
  });

  it('raises overuse when a holder process uses more than it declared, once per episode', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB, processes: [] });
    const a = await make(gpu);
    const events: unknown[] = [];
    a.on('overuse', (e) => events.push(e));
    const lease = await a.acquire('FOUR', { pid: 3001 });
    gpu.setDevice(0, { processes: [{ pid: 3001, usedMiB: 7 * GiB }] });
    await sample(gpu);
    await sample(gpu);
    expect(events).toEqual([
      expect.objectContaining({
        device: 0,
        pid: 3001,
        declaredMiB: 4 * GiB,
        usedMiB: 7 * GiB,
        lease: expect.objectContaining({ id: lease.id }),
      }),
    ]);
    expect(a.snapshot().holders[0]).toMatchObject({ overuse: true });
    // The excess nobody declared counts against the budget: 16 - 4 declared - 3 excess = 9.
    expect(a.snapshot().devices[0]!.budgetMiB).toBe(9 * GiB);
    await lease.release();
  });

  it('without per-process data falls back to used - declared', () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB, usedMiB: 12 * GiB, processes: null });
    const adm = admitDevice(gpu.snapshot().devices[0]!, 1, [
      { token: 't', fencingToken: 1, units: 4 * GiB, grantedAt: 0, holder: { leaseId: 'L1', task: 'X', pid: 1 } },
    ]);
    expect(adm).toMatchObject({ usable: true, method: 'used-minus-declared', unaccountedMiB: 8 * GiB, capacityMiB: 16 * GiB });
  });
});
