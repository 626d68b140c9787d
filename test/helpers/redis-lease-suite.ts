// The behaviour suite of RedisLeases, run against one redis-server (redis-leases.test.ts) and
// against a 3-master Redis Cluster (redis-cluster.test.ts) through the same factory.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisLeases } from '../../src/backends/redis/leases';
import type { RedisTarget } from '../../src/backends/redis/connection';
import { poolKeyList, resourceKeyList, resourceKeys } from '../../src/backends/redis/keys';
import type { RedisGrant, RedisLeasesOptions } from '../../src/backends/redis/types';
import { commandCalls, type RedisServer } from './redis-server';
import { sleep, waitFor, waitForAsync } from './wait';

export interface SuiteTarget {
  /** A fresh target per call (a URL, or cluster seeds). */
  target(): RedisTarget;
  servers(): RedisServer[];
}

export const holder = (task = 'test') => ({ leaseId: `${task}-${randomBytes(3).toString('hex')}`, task, pid: process.pid });

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export function defineLeaseSuite(label: string, env: SuiteTarget): void {
  describe(`RedisLeases (${label})`, () => {
    const open: RedisLeases[] = [];
    const ns = () => `t${randomBytes(4).toString('hex')}`;
    async function leases(namespace: string, extra: Partial<RedisLeasesOptions> = {}): Promise<RedisLeases> {
      const l = await RedisLeases.open({ redis: env.target(), namespace, ...extra });
      open.push(l);
      return l;
    }
    afterEach(async () => {
      await Promise.all(open.map((l) => l.close()));
      open.length = 0;
    });

    it('keys of one resource share one hash tag (one cluster slot); so do those of every node of the pool', () => {
      const gpus = ['node-a/gpu0', 'node-a/gpu1', 'node-b/gpu0'].flatMap((r) => resourceKeyList(resourceKeys('prod', r)));
      const keys = [...gpus, ...poolKeyList('prod')];
      expect(keys).toHaveLength(31);
      for (const k of gpus) expect(k).toMatch(/^gpa:\{prod\}:node-[ab]\/gpu[01]:/);
      expect(new Set(keys).size).toBe(31);
      const answers = keys.map((k) => env.servers()[0]!.cli('CLUSTER', 'KEYSLOT', k).trim());
      // Only a cluster-mode server answers CLUSTER KEYSLOT.
      if (!answers[0]!.includes('ERR')) expect(new Set(answers).size).toBe(1);
    });

    it('namespace "p:x" + resource "y" and namespace "p" + resource "x:y" keep apart, each resource in one slot', async () => {
      const p = ns();
      for (const [namespace, resource] of [
        [`${p}:x`, 'y'],
        [p, 'x:y'],
      ]) {
        const slots = resourceKeyList(resourceKeys(namespace as string, resource as string)).map((k) => env.servers()[0]!.cli('CLUSTER', 'KEYSLOT', k).trim());
        if (!slots[0]!.includes('ERR')) expect(new Set(slots).size).toBe(1);
      }
      const a = await leases(`${p}:x`);
      const b = await leases(p);
      await a.setResource('y', { capacity: 1 });
      await b.setResource('x:y', { capacity: 1 });
      const ga = await a.acquire({ resource: 'y', units: 1, priority: 1, holder: holder() });
      const gb = await b.acquire({ resource: 'x:y', units: 1, priority: 1, holder: holder(), deadline: Date.now() + 300 });
      expect((await b.inspect()).resources.map((r) => [r.resource, r.holders.map((h) => h.token)])).toEqual([['x:y', [gb.token]]]);
      await ga.release();
      await gb.release();
    });

    it('grants up to capacity, queues the rest, keeps usage() current', async () => {
      const n = ns();
      const a = await leases(n);
      await a.setResource('gpu', { capacity: 10 });
      const g1 = await a.acquire({ resource: 'gpu', units: 6, priority: 1, holder: holder() });
      const g2 = await a.acquire({ resource: 'gpu', units: 4, priority: 1, holder: holder() });
      expect(a.usage('gpu')).toMatchObject({ capacity: 10, declared: 10, waiting: 0, closed: false });
      const p3 = a.acquire({ resource: 'gpu', units: 5, priority: 1, holder: holder() });
      await waitFor(() => a.usage('gpu')?.waiting === 1, 'one waiter');
      expect(await g1.release()).toBe('released');
      const g3 = await p3;
      expect(g3.units).toBe(5);
      expect(a.usage('gpu')).toMatchObject({ declared: 9, waiting: 0 });
      await g2.release();
      await g3.release();
      expect(a.usage('gpu')?.declared).toBe(0);
    });

    it('refuses at once what can never fit, an unknown resource, a closed resource', async () => {
      const a = await leases(ns());
      await a.setResource('gpu', { capacity: 4 });
      await expect(a.acquire({ resource: 'gpu', units: 5, priority: 1, holder: holder() })).rejects.toMatchObject({
        code: 'E_DOES_NOT_FIT',
      });
      await expect(a.acquire({ resource: 'nope', units: 1, priority: 1, holder: holder() })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
      });
      await a.setResource('gpu', { capacity: 4, closed: true });
      await expect(a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() })).rejects.toMatchObject({
        code: 'E_CLOSED',
      });
      await expect(a.acquire({ resource: 'gpu', units: 0, priority: 1, holder: holder() })).rejects.toThrow(
        /Expected an integer from 1 to \d+ for request.units but received 0/,
      );
    });

    it('release is owner-checked: a wrong token is refused and counted; a second release is already-released', async () => {
      const n = ns();
      const a = await leases(n);
      const b = await leases(n);
      await a.setResource('gpu', { capacity: 1 });
      const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      expect(await b.release('gpu', 'f'.repeat(32))).toBe('not-owner');
      // A near miss: the real token with its last digit changed (never equal to it).
      const nearMiss = `${g.token.slice(0, -1)}${g.token.endsWith('0') ? '1' : '0'}`;
      expect(await b.release('gpu', nearMiss)).toBe('not-owner');
      expect(b.counters().ownershipViolations).toBe(2);
      const view = await a.inspect();
      const r = view.resources.find((x) => x.resource === 'gpu');
      expect(r?.ownershipViolations).toBe(2);
      expect(r?.holders.map((h) => h.token)).toEqual([g.token]); // still held
      expect(await g.release()).toBe('released');
      expect(await g.release()).toBe('already-released');
      expect(await a.release('gpu', g.token)).toBe('already-released');
      expect(a.counters().ownershipViolations).toBe(0);
    });

    it('fencing tokens strictly increase per resource, across instances', async () => {
      const n = ns();
      const a = await leases(n);
      const b = await leases(n);
      await a.setResource('gpu', { capacity: 1 });
      const fences: number[] = [];
      for (let i = 0; i < 20; i++) {
        const g = await (i % 2 ? a : b).acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
        fences.push(g.fencingToken);
        await g.release();
      }
      for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1] as number);
      expect(Number.isSafeInteger(fences[0])).toBe(true);
    });

    it('priority first, FIFO within a priority, across instances', async () => {
      const n = ns();
      const a = await leases(n);
      const b = await leases(n);
      await a.setResource('gpu', { capacity: 1 });
      const g = await a.acquire({ resource: 'gpu', units: 1, priority: 50, holder: holder() });
      const order: string[] = [];
      const waits: Array<Promise<void>> = [];
      const enqueue = async (who: RedisLeases, tag: string, priority: number) => {
        const before = who.usage('gpu')?.waiting ?? 0;
        waits.push(
          who.acquire({ resource: 'gpu', units: 1, priority, holder: holder(tag) }).then(async (x: RedisGrant) => {
            order.push(tag);
            await sleep(5);
            await x.release();
          }),
        );
        await waitFor(() => (who.usage('gpu')?.waiting ?? 0) > before, `${tag} queued`);
      };
      await enqueue(a, 'low-1', 10);
      await enqueue(b, 'mid', 50);
      await enqueue(a, 'low-2', 10);
      await enqueue(b, 'high', 90);
      await enqueue(a, 'mid-2', 50);
      expect(b.usage('gpu')?.headPriority).toBe(90);
      await g.release();
      await Promise.all(waits);
      expect(order).toEqual(['high', 'mid', 'mid-2', 'low-1', 'low-2']);
    });

    it('abort and deadline remove the waiter at once and leave no trace', async () => {
      const n = ns();
      const a = await leases(n);
      await a.setResource('gpu', { capacity: 1 });
      const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const ac = new AbortController();
      const aborted = a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), signal: ac.signal });
      const timed = a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), deadline: Date.now() + 150 });
      await waitFor(() => a.usage('gpu')?.waiting === 2, 'two waiters');
      ac.abort();
      await expect(aborted).rejects.toMatchObject({ code: 'E_ABORTED' });
      const t0 = Date.now();
      await expect(timed).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      expect(Date.now() - t0).toBeLessThan(2000);
      await waitFor(() => a.usage('gpu')?.waiting === 0, 'queue empty');
      const view = (await a.inspect()).resources.find((r) => r.resource === 'gpu');
      expect(view?.waiters).toEqual([]);
      // A deadline already passed: try once, never wait.
      await expect(a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), deadline: Date.now() - 1 })).rejects.toMatchObject({
        code: 'E_TIMEOUT',
      });
      expect((await a.inspect()).resources.find((r) => r.resource === 'gpu')?.waiters).toEqual([]);
      await g.release();
      expect((await a.inspect()).resources.find((r) => r.resource === 'gpu')?.holders).toEqual([]);
    });

    it('a full queue refuses with E_QUEUE_FULL (whole queue, or per queue group)', async () => {
      const a = await leases(ns());
      await a.setResource('gpu', { capacity: 1 });
      const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const ac = new AbortController();
      const w1 = a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), signal: ac.signal, queueGroup: 'ASR', queueLimit: 1 });
      await waitFor(() => a.usage('gpu')?.waiting === 1, 'one waiter');
      await expect(a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), queueGroup: 'ASR', queueLimit: 1 })).rejects.toMatchObject({
        code: 'E_QUEUE_FULL',
      });
      await expect(a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), queueLimit: 1 })).rejects.toMatchObject({
        code: 'E_QUEUE_FULL',
      });
      const w2 = a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), signal: ac.signal, queueGroup: 'TTS', queueLimit: 1 });
      await waitFor(() => a.usage('gpu')?.waiting === 2, 'two waiters');
      ac.abort();
      await expect(w1).rejects.toMatchObject({ code: 'E_ABORTED' });
      await expect(w2).rejects.toMatchObject({ code: 'E_ABORTED' });
      await g.release();
    });

    it('a capacity cut refuses waiters that can never fit; a raise grants those that now fit', async () => {
      const n = ns();
      const a = await leases(n);
      await a.setResource('gpu', { capacity: 8 });
      const g = await a.acquire({ resource: 'gpu', units: 8, priority: 1, holder: holder() });
      const big = a.acquire({ resource: 'gpu', units: 6, priority: 1, holder: holder() }).catch((e: unknown) => e);
      await waitFor(() => a.usage('gpu')?.waiting === 1, 'one waiter');
      await a.setResource('gpu', { capacity: 4 });
      expect(await big).toMatchObject({ code: 'E_DOES_NOT_FIT' });
      const small = a.acquire({ resource: 'gpu', units: 2, priority: 1, holder: holder() });
      await waitFor(() => a.usage('gpu')?.waiting === 1, 'small waits');
      await a.setResource('gpu', { capacity: 10 });
      const gs = await small;
      await gs.release();
      await g.release();
    });

    it('revoke fires the holder’s lost signal in another instance (pub/sub)', async () => {
      const n = ns();
      const a = await leases(n);
      const admin = await leases(n);
      await a.setResource('gpu', { capacity: 1 });
      const lostReasons: string[] = [];
      const g = await a.acquire({
        resource: 'gpu',
        units: 1,
        priority: 1,
        holder: holder(),
        onLost: (e) => lostReasons.push(e.code),
      });
      expect(await admin.revoke('gpu', g.token, 'maintenance')).toBe('revoked');
      await waitFor(() => g.lost.aborted, 'lost signal');
      expect((g.lost.reason as { code: string }).code).toBe('E_LEASE_LOST');
      expect(lostReasons).toEqual(['E_LEASE_LOST']);
      expect(await g.release()).toBe('already-released');
      expect(await admin.revoke('gpu', g.token, 'again')).toBe('not-found');
    });

    it('renews at TTL/3: a lease outlives its TTL while its process lives', async () => {
      const n = ns();
      const a = await leases(n, { leaseTtlMs: 500 });
      const b = await leases(n);
      await a.setResource('gpu', { capacity: 1 });
      const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      await sleep(1200);
      expect(g.lost.aborted).toBe(false);
      await expect(b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), deadline: Date.now() - 1 })).rejects.toMatchObject({
        code: 'E_TIMEOUT',
      });
      const view = (await b.inspect()).resources.find((r) => r.resource === 'gpu');
      expect(view?.holders[0]?.token).toBe(g.token);
      expect(view!.holders[0]!.expiresAt).toBeGreaterThan(Date.now() - 1000);
      await g.release();
    });

    it('a lease handed over through pub/sub is confirmed and outlives its provisional TTL', async () => {
      const n = ns();
      const a = await leases(n);
      const b = await leases(n, { waiterTtlMs: 300 });
      await a.setResource('gpu', { capacity: 1 });
      const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const next = b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      await waitFor(() => b.usage('gpu')?.waiting === 1, 'waiter queued');
      await g.release();
      const g2 = await next;
      await sleep(900); // three provisional TTLs
      expect(g2.lost.aborted).toBe(false);
      const view = (await a.inspect()).resources.find((r) => r.resource === 'gpu');
      expect(view?.holders.map((h) => h.token)).toEqual([g2.token]);
      expect(view!.holders[0]!.expiresAt - Date.now()).toBeGreaterThan(5000); // a full lease TTL (10 s)
      await g2.release();
    });

    it('scripts are loaded once (EVALSHA; EVAL only after NOSCRIPT) and survive SCRIPT FLUSH', async () => {
      const a = await leases(ns());
      await a.setResource('gpu', { capacity: 1 });
      for (let i = 0; i < 5; i++) await (await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() })).release();
      const loadsBefore = a.counters().scriptLoads;
      const evalBefore = commandCalls(env.servers(), 'eval');
      const shaBefore = commandCalls(env.servers(), 'evalsha');
      for (let i = 0; i < 20; i++) await (await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() })).release();
      expect(commandCalls(env.servers(), 'eval')).toBe(evalBefore);
      expect(commandCalls(env.servers(), 'evalsha') - shaBefore).toBeGreaterThanOrEqual(40);
      expect(a.counters().scriptLoads).toBe(loadsBefore);
      for (const s of env.servers()) s.cli('SCRIPT', 'FLUSH');
      await (await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() })).release();
      expect(a.counters().scriptLoads).toBe(loadsBefore + 2); // acquire and release, once each
    });

    it('wake-up by pub/sub: release -> next holder in one round trip, 1 Redis command per handoff flat in waiters; handoff latency', async () => {
      const n = ns();
      const a = await leases(n);
      // Slow heartbeats, so that only the handoff's own commands fall in the measured windows.
      const waitersSide = await leases(n, { waiterTtlMs: 60_000, pollMs: 30_000 });
      await a.setResource('gpu', { capacity: 1 });
      const measure = async (waiters: number, rounds: number) => {
        const lat: number[] = [];
        let commands = 0;
        for (let r = 0; r < rounds; r++) {
          const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
          const pending: Array<Promise<RedisGrant>> = [];
          for (let i = 0; i < waiters; i++) pending.push(waitersSide.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() }));
          await waitFor(() => waitersSide.usage('gpu')?.waiting === waiters, `${waiters} waiters`);
          const before = commandCalls(env.servers(), 'evalsha') + commandCalls(env.servers(), 'eval');
          let t1 = 0;
          void pending[0]!.then(() => {
            t1 = performance.now();
          });
          const t0 = performance.now();
          await g.release();
          const next = await pending[0]!;
          await waitFor(() => t1 > 0, 'grant observed');
          lat.push(t1 - t0);
          commands += commandCalls(env.servers(), 'evalsha') + commandCalls(env.servers(), 'eval') - before;
          await next.release();
          for (const p of pending.slice(1)) await (await p).release();
        }
        return { p50: percentile(lat, 50), max: Math.max(...lat), perHandoff: commands / rounds };
      };
      const one = await measure(1, 15);
      const eight = await measure(8, 5);
      console.log(
        `[${label}] handoff release->next holder: 1 waiter p50 ${one.p50.toFixed(2)} ms (max ${one.max.toFixed(2)}), ` +
          `${one.perHandoff} script calls/handoff; 8 waiters p50 ${eight.p50.toFixed(2)} ms, ${eight.perHandoff} script calls/handoff`,
      );
      // The release script itself grants the head waiter and publishes it: one call per
      // handoff, flat in the number of waiters. (A holder's renewal tick may fall in a window:
      // <= 2 on average; docs/design.md allows 4.)
      expect(one.perHandoff).toBeLessThanOrEqual(2);
      expect(eight.perHandoff).toBeLessThanOrEqual(2);
      expect(one.p50).toBeLessThan(50); // generous on a loaded 2-core machine; typically ~1 ms
    });

    it('a big head waiter is not overtaken by smaller ones behind it (strict order)', async () => {
      const a = await leases(ns());
      await a.setResource('gpu', { capacity: 4 });
      const g = await a.acquire({ resource: 'gpu', units: 3, priority: 1, holder: holder() });
      const big = a.acquire({ resource: 'gpu', units: 4, priority: 1, holder: holder() });
      await waitFor(() => a.usage('gpu')?.waiting === 1, 'big waits');
      const small = a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), deadline: Date.now() + 300 });
      await expect(small).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      await g.release();
      await (await big).release();
    });

    it('acquireSet: two GPUs of one node at once or none; waits with nothing held; two sets over the same GPUs never deadlock', async () => {
      const n = ns();
      const a = await leases(n);
      const b = await leases(n);
      for (const r of ['node-s/gpu0', 'node-s/gpu1']) await a.setResource(r, { capacity: 10 });
      const both = ['node-s/gpu0', 'node-s/gpu1'];
      const set = await a.acquireSet(both, { units: 6, priority: 1, holder: holder() });
      expect(set.map((g) => g.resource)).toEqual(both);
      expect(set[0]!.token).not.toBe(set[1]!.token);
      // b's set waits: nothing of it is held meanwhile, and a single request behind it waits too.
      const other = b.acquireSet(both, { units: 6, priority: 1, holder: holder() });
      await waitForAsync(async () => (await b.inspect()).resources.every((r) => r.waiters.length === 1), 'the set queued on both');
      const view = await b.inspect();
      expect(view.resources.map((r) => r.holders.length)).toEqual([1, 1]);
      await set[0]!.release();
      await set[1]!.release();
      const got = await other;
      expect(got.map((g) => g.fencingToken)).toEqual([set[0]!.fencingToken + 1, set[1]!.fencingToken + 1]);
      for (const g of got) await g.release();
      // 2 clients x 40 rounds of the same 2-GPU set, contending: every round granted, no deadlock.
      const rounds = async (l: RedisLeases) => {
        for (let i = 0; i < 40; i++) {
          const gs = await l.acquireSet(both, { units: 6, priority: 1, holder: holder(), deadline: Date.now() + 10_000 });
          await sleep(1);
          for (const g of gs) await g.release();
        }
      };
      await Promise.all([rounds(a), rounds(b)]);
      // Refusals: a set over two groups, one that can never fit, an unknown GPU.
      await expect(a.acquireSet(['node-s/gpu0', 'node-t/gpu0'], { units: 1, priority: 1, holder: holder() })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
      });
      await expect(a.acquireSet(both, { units: 11, priority: 1, holder: holder() })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
      await expect(a.acquireSet(['node-s/gpu0', 'node-s/gpu9'], { units: 1, priority: 1, holder: holder() })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
      });
      expect((await a.inspect()).resources.every((r) => r.holders.length === 0 && r.waiters.length === 0)).toBe(true);
    });

    it('close() rejects waiters with E_CLOSED and releases what it holds', async () => {
      const n = ns();
      const a = await RedisLeases.open({ redis: env.target(), namespace: n });
      const b = await leases(n);
      await a.setResource('gpu', { capacity: 1 });
      const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const w = a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() }).catch((e: unknown) => e);
      await waitFor(() => a.usage('gpu')?.waiting === 1, 'waiter');
      const bw = b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      await a.close();
      expect(await w).toMatchObject({ code: 'E_CLOSED' });
      expect(g.lost.aborted).toBe(true);
      await (await bw).release();
      await expect(a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() })).rejects.toMatchObject({ code: 'E_CLOSED' });
    });
  });
}
