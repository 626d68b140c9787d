// One suite for every backend (local now; host and redis reuse it through their own factory).
// Timing: deadlines are short real-time waits and only their outcome is asserted, never speed.
import { afterEach, describe, expect, it } from 'vitest';
import type { AcquireRequest, Backend, Grant } from '../../src/backends/types';

export interface BackendFactory {
  /** A fresh, empty backend; resources it declares must not collide with other tests' (namespaces). */
  create(): Promise<Backend> | Backend;
}

let leaseSeq = 0;
function req(resource: string, units: number, priority: number, extra: Partial<AcquireRequest> = {}): AcquireRequest {
  const leaseId = `t${++leaseSeq}`;
  return { resource, units, priority, holder: { leaseId, task: extra.queueGroup ?? 'T', pid: process.pid }, ...extra };
}

/** Records the order in which promises settle. */
function track(order: string[], name: string, p: Promise<Grant>): Promise<Grant> {
  return p.then(
    (g) => {
      order.push(name);
      return g;
    },
    (err: unknown) => {
      order.push(`${name}:${(err as { code?: string }).code}`);
      throw err;
    },
  );
}

const tick = () => new Promise<void>((r) => setImmediate(r));

export function backendContract(name: string, factory: BackendFactory): void {
  describe(`backend contract: ${name}`, () => {
    let backend: Backend;
    afterEach(async () => {
      await backend?.close();
    });
    async function make(capacity = 1, external = 0): Promise<Backend> {
      backend = await factory.create();
      backend.setResource('r', { capacity, external });
      return backend;
    }

    it('grants at once when it fits, with strictly increasing fencing tokens', async () => {
      const b = await make(10);
      const a = await b.acquire(req('r', 3, 0));
      const c = await b.acquire(req('r', 7, 0));
      expect(c.fencingToken).toBeGreaterThan(a.fencingToken);
      expect(a.token).not.toBe(c.token);
      expect(b.usage('r')).toMatchObject({ declared: 10, capacity: 10, waiting: 0 });
      a.release();
      const d = await b.acquire(req('r', 3, 0));
      expect(d.fencingToken).toBeGreaterThan(c.fencingToken);
    });

    it('fails a request that can never fit with E_DOES_NOT_FIT at once, even while busy', async () => {
      const b = await make(4);
      const held = await b.acquire(req('r', 4, 0));
      await expect(b.acquire(req('r', 5, 100))).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
      expect(b.usage('r')!.waiting).toBe(0);
      held.release();
    });

    it('serves higher priority first and FIFO within a priority', async () => {
      const b = await make(1);
      const held = await b.acquire(req('r', 1, 0));
      const order: string[] = [];
      // Each holder releases as soon as it is granted, so the grant order is the queue order.
      const take = (name: string, priority: number) =>
        b.acquire(req('r', 1, priority)).then((g) => {
          order.push(name);
          g.release();
        });
      const ps = [take('low1', 1), take('high1', 9), take('mid', 5), take('high2', 9), take('low2', 1)];
      expect(b.inspect().resources[0]!.waiters.map((w) => w.priority)).toEqual([9, 9, 5, 1, 1]);
      held.release();
      await Promise.all(ps);
      expect(order).toEqual(['high1', 'high2', 'mid', 'low1', 'low2']);
    });

    it('keeps strict order: a big head is not overtaken by smaller requests of its priority or lower', async () => {
      const b = await make(10);
      const a = await b.acquire(req('r', 6, 0));
      const order: string[] = [];
      const big = track(order, 'big', b.acquire(req('r', 8, 5)));
      const small = track(order, 'small', b.acquire(req('r', 2, 5)));
      await tick();
      expect(order).toEqual([]);
      a.release();
      (await big).release();
      (await small).release();
      expect(order).toEqual(['big', 'small']);
    });

    it('sums granted units up to capacity, never past it', async () => {
      const b = await make(10);
      const grants = await Promise.all([b.acquire(req('r', 4, 0)), b.acquire(req('r', 4, 0))]);
      let third: Grant | null = null;
      const p = b.acquire(req('r', 4, 0)).then((g) => (third = g));
      await tick();
      expect(third).toBeNull();
      expect(b.usage('r')!.declared).toBe(8);
      grants[0]!.release();
      await p;
      expect(b.usage('r')!.declared).toBe(8);
      grants[1]!.release();
      third!.release();
      expect(b.usage('r')!.declared).toBe(0);
    });

    it('counts external use against capacity and admits a waiter when it drops', async () => {
      const b = await make(16, 10);
      await expect(b.acquire(req('r', 8, 0, { deadline: Date.now() }))).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      const five = await b.acquire(req('r', 5, 0));
      let eight: Grant | null = null;
      const p = b.acquire(req('r', 8, 0)).then((g) => (eight = g));
      five.release();
      await tick();
      expect(eight).toBeNull();
      b.setResource('r', { capacity: 16, external: 2 });
      await p;
      expect(eight!.units).toBe(8);
      eight!.release();
    });

    it('times out at the deadline with E_TIMEOUT and leaves no trace', async () => {
      const b = await make(1);
      const held = await b.acquire(req('r', 1, 0));
      const late = b.acquire(req('r', 1, 5, { deadline: Date.now() + 30 }));
      const next = b.acquire(req('r', 1, 1));
      await expect(late).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      expect(b.inspect().resources[0]!.waiters.map((w) => w.priority)).toEqual([1]);
      held.release();
      (await next).release();
      expect(b.usage('r')).toMatchObject({ declared: 0, waiting: 0 });
    });

    it('a deadline already passed means try once', async () => {
      const b = await make(1);
      const held = await b.acquire(req('r', 1, 0));
      await expect(b.acquire(req('r', 1, 0, { deadline: Date.now() }))).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      expect(b.usage('r')!.waiting).toBe(0);
      held.release();
      (await b.acquire(req('r', 1, 0, { deadline: Date.now() }))).release();
    });

    it('removes an aborted waiter at once (E_ABORTED) and rejects an already aborted signal', async () => {
      const b = await make(1);
      const held = await b.acquire(req('r', 1, 0));
      const ac = new AbortController();
      const p = b.acquire(req('r', 1, 0, { signal: ac.signal }));
      expect(b.usage('r')!.waiting).toBe(1);
      ac.abort(new Error('user gave up'));
      await expect(p).rejects.toMatchObject({ code: 'E_ABORTED' });
      expect(b.usage('r')!.waiting).toBe(0);
      await expect(b.acquire(req('r', 1, 0, { signal: ac.signal }))).rejects.toMatchObject({ code: 'E_ABORTED' });
      held.release();
      expect(b.usage('r')!.declared).toBe(0);
    });

    it('lets the next waiter in when a blocking head leaves by abort', async () => {
      const b = await make(10);
      const held = await b.acquire(req('r', 6, 0));
      const ac = new AbortController();
      const big = b.acquire(req('r', 8, 5, { signal: ac.signal }));
      const small = b.acquire(req('r', 4, 5));
      ac.abort();
      await expect(big).rejects.toMatchObject({ code: 'E_ABORTED' });
      (await small).release();
      held.release();
    });

    it('refuses more waiters of a group than queueLimit with E_QUEUE_FULL', async () => {
      const b = await make(1);
      const held = await b.acquire(req('r', 1, 0));
      const w1 = b.acquire(req('r', 1, 0, { queueGroup: 'A', queueLimit: 2 }));
      const w2 = b.acquire(req('r', 1, 0, { queueGroup: 'A', queueLimit: 2 }));
      await expect(b.acquire(req('r', 1, 0, { queueGroup: 'A', queueLimit: 2 }))).rejects.toMatchObject({
        code: 'E_QUEUE_FULL',
      });
      const other = b.acquire(req('r', 1, 0, { queueGroup: 'B', queueLimit: 2 }));
      held.release();
      (await w1).release();
      (await w2).release();
      (await other).release();
    });

    it('release is idempotent; a wrong token is refused and counted', async () => {
      const b = await make(1);
      const g = await b.acquire(req('r', 1, 0));
      expect(b.release('r', 'not-a-token')).toBe('not-owner');
      expect(b.usage('r')!.declared).toBe(1);
      expect(b.inspect().ownershipViolations).toBe(1);
      expect(g.release()).toBe(true);
      expect(g.release()).toBe(false);
      expect(b.release('r', g.token)).toBe('already-released');
      expect(b.usage('r')!.declared).toBe(0);
    });

    it('a closed resource takes no new grants; reopening lets waiters in', async () => {
      const b = await make(4);
      b.setResource('r', { capacity: 4, closed: true });
      let got: Grant | null = null;
      const p = b.acquire(req('r', 1, 0)).then((g) => (got = g));
      await tick();
      expect(got).toBeNull();
      b.setResource('r', { capacity: 4 });
      await p;
      got!.release();
    });

    it('revoke frees the units and aborts lost with E_LEASE_LOST', async () => {
      const b = await make(1);
      const g = await b.acquire(req('r', 1, 0));
      const lost = g.lost;
      const next = b.acquire(req('r', 1, 0));
      expect(b.revoke('r', g.token)).toBe(true);
      expect(lost.aborted).toBe(true);
      expect(lost.reason).toMatchObject({ code: 'E_LEASE_LOST' });
      (await next).release();
      expect(g.release()).toBe(false);
    });

    it('close rejects waiters with E_CLOSED and aborts holds', async () => {
      const b = await make(1);
      const g = await b.acquire(req('r', 1, 0));
      const w = b.acquire(req('r', 1, 0));
      await b.close();
      await expect(w).rejects.toMatchObject({ code: 'E_CLOSED' });
      expect(g.lost.aborted).toBe(true);
    });
  });
}
