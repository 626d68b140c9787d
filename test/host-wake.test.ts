// Issue 17: one wake-up per host handoff, and crash reclaim at kernel speed without polling.
// Which path delivered a grant or reclaimed a dead holder is asserted by the native counters
// (wakeStats), never by time. The test hooks switch paths off per ledger: GPU_ARBITER_TEST_NO_POLL
// (no waiter-thread sweep poll), GPU_ARBITER_TEST_NO_DIRECT_WAKE (no datagram socket: the
// futex + waiter thread fallback), GPU_ARBITER_TEST_NO_WATCH (no holder watcher),
// GPU_ARBITER_TEST_NO_WAITV (the watcher as on a kernel without futex_waitv); each is read
// when a process opens a namespace, so children forked before it is set keep the defaults.
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HostLedger } from '../src/backends/host/ledger';
import { wakeStats } from '../src/backends/host/test-hooks';
import { HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

afterAll(removeTestNamespaces);
process.env.GPU_ARBITER_TEST_HOOKS = '1';

const HOOKS = ['GPU_ARBITER_TEST_NO_POLL', 'GPU_ARBITER_TEST_NO_DIRECT_WAKE', 'GPU_ARBITER_TEST_NO_WATCH', 'GPU_ARBITER_TEST_NO_WAITV'] as const;
afterEach(() => {
  for (const h of HOOKS) delete process.env[h];
});

/** Opens `ns` in this process with the given hooks on (only this open reads them). */
async function openWith(ns: string, hooks: (typeof HOOKS)[number][]): Promise<HostLedger> {
  for (const h of hooks) process.env[h] = '1';
  try {
    return await HostLedger.open({ namespace: ns, resources: { lock: 1 } });
  } finally {
    for (const h of hooks) delete process.env[h];
  }
}

/** `rounds` handoffs child -> this process: the child holds, we queue, the child releases. */
async function handoffs(ledger: HostLedger, child: HostChild, rounds: number): Promise<number[]> {
  const fences: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const held = await child.send({ cmd: 'acquire', resource: 'lock', key: `k${i}` });
    expect(held.ok).toBe(true);
    fences.push(held.fence as number);
    const waiting = ledger.acquire('lock', { timeoutMs: 10_000 });
    await waitUntil(() => ledger.inspect().waiters.length === 1, 5000, 'our waiter');
    expect((await child.send({ cmd: 'release', key: `k${i}` })).ok).toBe(true);
    const grant = await waiting;
    fences.push(grant.fencingToken);
    grant.releaseSync();
  }
  return fences;
}

/** The child holds `lock`, we queue behind it, the child is SIGKILLed: our grant, and which path reclaimed it. */
async function killedHolderReclaimed(ledger: HostLedger, child: HostChild) {
  expect((await child.send({ cmd: 'acquire', resource: 'lock' })).ok).toBe(true);
  const waiting = ledger.acquire('lock', { timeoutMs: 10_000 });
  await waitUntil(() => ledger.inspect().waiters.length === 1, 5000, 'our waiter');
  const before = wakeStats();
  child.kill('SIGKILL');
  const grant = await waiting;
  const after = wakeStats();
  return { grant, watchReclaims: after.watchReclaims - before.watchReclaims, pollSweeps: after.pollSweeps - before.pollSweeps };
}

const increasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]);

describe('host handoff: one wake-up', () => {
  it('wakes the waiting event loop directly: every grant arrives by datagram, none through the waiter thread', async () => {
    const ns = uniqueNamespace('wake-direct');
    const child = new HostChild();
    const ledger = await openWith(ns, ['GPU_ARBITER_TEST_NO_POLL']); // nothing else may pick a grant up
    await child.open(ns, { lock: 1 });
    const before = wakeStats();
    const fences = await handoffs(ledger, child, 20);
    const after = wakeStats();
    expect(after.loopDeliveries - before.loopDeliveries).toBe(20);
    expect(after.threadDeliveries - before.threadDeliveries).toBe(0);
    expect(increasing(fences)).toBe(true);
    child.kill();
    await ledger.close();
  });

  it('falls back to the futex and waiter thread where the loop has no socket', async () => {
    const ns = uniqueNamespace('wake-fallback');
    const child = new HostChild();
    const ledger = await openWith(ns, ['GPU_ARBITER_TEST_NO_POLL', 'GPU_ARBITER_TEST_NO_DIRECT_WAKE']);
    await child.open(ns, { lock: 1 });
    const before = wakeStats();
    const fences = await handoffs(ledger, child, 20);
    const after = wakeStats();
    expect(after.threadDeliveries - before.threadDeliveries).toBe(20);
    expect(after.loopDeliveries - before.loopDeliveries).toBe(0);
    expect(increasing(fences)).toBe(true);
    child.kill();
    await ledger.close();
  });

  it('hands off between worker_threads of one process through their own loops, one holder at a time', async () => {
    const ns = uniqueNamespace('wake-threads');
    const ledger = await openWith(ns, ['GPU_ARBITER_TEST_NO_POLL']); // the workers share this process's mapping
    const dist = path.resolve(__dirname, '../dist');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { HostLedger } = require(${JSON.stringify(dist)});
      (async () => {
        const l = await HostLedger.open({ namespace: workerData.ns, resources: { lock: 1 } });
        const shared = new Int32Array(workerData.sab);
        // Start together (a worker takes longer to start than its rounds take to run).
        Atomics.add(shared, 1, 1);
        while (Atomics.load(shared, 1) < workerData.workers) await new Promise((r) => setTimeout(r, 1));
        const fences = [];
        let overlaps = 0;
        for (let i = 0; i < workerData.rounds; i++) {
          const g = await l.acquire('lock', { timeoutMs: 10000 });
          if (Atomics.add(shared, 0, 1) !== 0) overlaps++;
          fences.push(g.fencingToken);
          await new Promise((r) => setImmediate(r));
          Atomics.sub(shared, 0, 1);
          g.releaseSync();
        }
        await l.close();
        parentPort.postMessage({ fences, overlaps });
      })();`;
    const sab = new SharedArrayBuffer(8);
    const before = wakeStats();
    const results = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<{ fences: number[]; overlaps: number }>((resolve, reject) => {
            const w = new Worker(code, { eval: true, workerData: { ns, sab, rounds: 200, workers: 3 } });
            w.once('message', resolve);
            w.once('error', reject);
          }),
      ),
    );
    const after = wakeStats();
    expect(results.map((r) => r.overlaps)).toEqual([0, 0, 0]);
    const all = results.flatMap((r) => r.fences).sort((a, b) => a - b);
    expect(new Set(all).size).toBe(600); // every fencing token once: no two holds shared one
    // Some acquisitions were granted inline; every one that waited was woken on its own loop.
    expect(after.loopDeliveries - before.loopDeliveries).toBeGreaterThan(0);
    expect(after.threadDeliveries - before.threadDeliveries).toBe(0);
    await ledger.close();
  });

  it('a thread with a loop has one consumer: a grant and its revocation made while the loop is blocked arrive through the loop, in order', async () => {
    // The waiter thread polls (every 10 ms while this process waits) but must leave this
    // thread's entries to its loop: had it taken the grant (ThreadSafeFunction) and the loop the
    // revocation, the revocation could arrive first, and the holder never hear of it.
    const ns = uniqueNamespace('wake-order');
    const holder = await openWith(ns, []);
    const waiter = await HostLedger.open({ namespace: ns, resources: { lock: 1 } });
    try {
      const first = await holder.acquire('lock');
      const before = wakeStats();
      const waiting = waiter.acquire('lock', { revokeAfterMs: 20, timeoutMs: 5000 });
      first.releaseSync(); // grants `waiting` in the ledger
      const until = Date.now() + 80; // the loop is blocked; the hold expires; polls run
      while (Date.now() < until);
      expect(holder.inspect().holders).toEqual([]); // revoked while we were blocked
      const grant = await waiting;
      await waitUntil(() => grant.lost.aborted, 2000, 'the revocation notice');
      expect((grant.lost.reason as { details?: { reason?: string } }).details?.reason).toBe('expired');
      const after = wakeStats();
      expect(after.threadDeliveries - before.threadDeliveries).toBe(0);
      expect(after.loopDeliveries - before.loopDeliveries).toBe(2); // the grant, then its notice
      grant.releaseSync(); // already gone: no violation
      expect(holder.inspect().ownershipViolations).toBe(0);
    } finally {
      await waiter.close();
      await holder.close();
    }
  });
});

describe('host crash reclaim: the kernel wakes the watcher', () => {
  it('reclaims a SIGKILLed holder with the poll switched off', async () => {
    const ns = uniqueNamespace('watch-kill');
    const child = new HostChild();
    const ledger = await openWith(ns, ['GPU_ARBITER_TEST_NO_POLL']);
    await child.open(ns, { lock: 1 });
    const { grant, watchReclaims, pollSweeps } = await killedHolderReclaimed(ledger, child);
    expect(watchReclaims).toBe(1);
    expect(pollSweeps).toBe(0);
    expect(ledger.inspect().holders.map((h) => h.pid)).toEqual([process.pid]);
    grant.releaseSync();
    await ledger.close();
  });

  it('follows the lock to its next holder: kills the second holder, after the first released normally', async () => {
    const ns = uniqueNamespace('watch-follow');
    const first = new HostChild();
    const second = new HostChild();
    const ledger = await openWith(ns, ['GPU_ARBITER_TEST_NO_POLL']);
    await first.open(ns, { lock: 1 });
    await second.open(ns, { lock: 1 });
    expect((await first.send({ cmd: 'acquire', resource: 'lock', key: 'a' })).ok).toBe(true);
    const secondHeld = second.send({ cmd: 'acquire', resource: 'lock', key: 'b' });
    await waitUntil(() => ledger.inspect().waiters.length === 1, 5000, "the second child's waiter");
    const waiting = ledger.acquire('lock', { timeoutMs: 10_000 });
    await waitUntil(() => ledger.inspect().waiters.length === 2, 5000, 'our waiter');
    expect((await first.send({ cmd: 'release', key: 'a' })).ok).toBe(true);
    expect((await secondHeld).ok).toBe(true); // the first holder left normally: we watch the second now
    const before = wakeStats();
    second.kill('SIGKILL');
    const grant = await waiting;
    const after = wakeStats();
    expect(after.watchReclaims - before.watchReclaims).toBe(1);
    expect(after.pollSweeps - before.pollSweeps).toBe(0);
    grant.releaseSync();
    first.kill();
    await ledger.close();
  });

  // The hook stays on for the rest of this process: the cases after this one do not need futex_waitv.
  it('reclaims by the watcher where futex_waitv is missing too (one word, bounded sleeps)', async () => {
    const ns = uniqueNamespace('watch-no-waitv');
    const child = new HostChild();
    const ledger = await openWith(ns, ['GPU_ARBITER_TEST_NO_POLL', 'GPU_ARBITER_TEST_NO_WAITV']);
    await child.open(ns, { lock: 1 });
    const { grant, watchReclaims, pollSweeps } = await killedHolderReclaimed(ledger, child);
    expect(watchReclaims).toBe(1);
    expect(pollSweeps).toBe(0);
    grant.releaseSync();
    await ledger.close();
  });

  it('still reclaims through the poll where there is no watcher', async () => {
    const ns = uniqueNamespace('watch-off');
    const child = new HostChild();
    const ledger = await openWith(ns, ['GPU_ARBITER_TEST_NO_WATCH']);
    await child.open(ns, { lock: 1 });
    const { grant, watchReclaims, pollSweeps } = await killedHolderReclaimed(ledger, child);
    expect(watchReclaims).toBe(0);
    expect(pollSweeps).toBeGreaterThan(0);
    grant.releaseSync();
    await ledger.close();
  });

  it('keeps a stopped (SIGSTOP) holder holding: it is alive, so nothing reclaims it', async () => {
    const ns = uniqueNamespace('watch-stop');
    const child = new HostChild();
    const ledger = await openWith(ns, ['GPU_ARBITER_TEST_NO_POLL']);
    await child.open(ns, { lock: 1 });
    expect((await child.send({ cmd: 'acquire', resource: 'lock' })).ok).toBe(true);
    const before = wakeStats();
    child.kill('SIGSTOP');
    await expect(ledger.acquire('lock', { timeoutMs: 300 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    expect(wakeStats().watchReclaims - before.watchReclaims).toBe(0);
    expect(ledger.inspect().holders.map((h) => h.pid)).toEqual([child.pid]);
    child.kill('SIGKILL');
    await child.exited;
    await ledger.close();
  });
});
