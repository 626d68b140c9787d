// One suite for every backend (local, redis; host reuses it through its own factory).
// Timing: deadlines are short real-time waits and only their outcome is asserted, never speed.
// Remote backends answer release/revoke/setResource with promises and serve inspect() from a
// cache (refresh()): the suite awaits every such call (awaiting a plain value costs nothing) and
// waits for figures that change in the background (a waiter reaching the queue) with until().
import { afterEach, describe, expect, it } from 'vitest';
import type { AcquireRequest, Backend, Grant } from '../../src/backends/contract';

export interface BackendFactory {
  /** A fresh, empty backend; resources it declares must not collide with other tests' (namespaces). */
  create(): Promise<Backend> | Backend;
  /** How long to wait before asserting that something did NOT happen (remote: a few round trips). @default 0 */
  quietMs?: number;
  /** New requests to a closed resource are refused with E_CLOSED instead of queued (redis). @default false */
  closedRefusesNew?: boolean;
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

/** The backend's view, re-read first where it is a cache of a remote ledger. */
async function view(b: Backend) {
  await b.refresh?.();
  return b.inspect();
}

/** Waits until `check` holds (at once for in-process backends). */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function backendContract(name: string, factory: BackendFactory): void {
  describe(`backend contract: ${name}`, () => {
    let backend: Backend;
    const tick = () => new Promise<void>((r) => (factory.quietMs ? setTimeout(r, factory.quietMs) : setImmediate(r)));
    const waiting = (n: number) => until(() => backend.usage('r')?.waiting === n, `${n} waiter(s)`);
    afterEach(async () => {
      await backend?.close();
    });
    async function make(capacity = 1, external = 0): Promise<Backend> {
      backend = await factory.create();
      await backend.setResource('r', { capacity, external });
      return backend;
    }

    it('grants at once when it fits, with strictly increasing fencing tokens', async () => {
      const b = await make(10);
      const a = await b.acquire(req('r', 3, 0));
      const c = await b.acquire(req('r', 7, 0));
      expect(c.fencingToken).toBeGreaterThan(a.fencingToken);
      expect(a.token).not.toBe(c.token);
      expect(b.usage('r')).toMatchObject({ declared: 10, capacity: 10, waiting: 0 });
      await a.release();
      const d = await b.acquire(req('r', 3, 0));
      expect(d.fencingToken).toBeGreaterThan(c.fencingToken);
    });

    it('fails a request that can never fit with E_DOES_NOT_FIT at once, even while busy', async () => {
      const b = await make(4);
      const held = await b.acquire(req('r', 4, 0));
      await expect(b.acquire(req('r', 5, 100))).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
      expect(b.usage('r')!.waiting).toBe(0);
      await held.release();
    });

    it('serves higher priority first and FIFO within a priority', async () => {
      const b = await make(1);
      const held = await b.acquire(req('r', 1, 0));
      const order: string[] = [];
      // Each holder releases as soon as it is granted, so the grant order is the queue order.
      const take = (name: string, priority: number) =>
        b.acquire(req('r', 1, priority)).then(async (g) => {
          order.push(name);
          await g.release();
        });
      const ps = [take('low1', 1), take('high1', 9), take('mid', 5), take('high2', 9), take('low2', 1)];
      await waiting(5);
      expect((await view(b)).resources[0]!.waiters.map((w) => w.priority)).toEqual([9, 9, 5, 1, 1]);
      await held.release();
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
      await a.release();
      await (await big).release();
      await (await small).release();
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
      await grants[0]!.release();
      await p;
      expect(b.usage('r')!.declared).toBe(8);
      await grants[1]!.release();
      await third!.release();
      expect(b.usage('r')!.declared).toBe(0);
    });

    it('counts external use against capacity and admits a waiter when it drops', async () => {
      const b = await make(16, 10);
      await expect(b.acquire(req('r', 8, 0, { deadline: Date.now() }))).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      const five = await b.acquire(req('r', 5, 0));
      let eight: Grant | null = null;
      const p = b.acquire(req('r', 8, 0)).then((g) => (eight = g));
      await five.release();
      await tick();
      expect(eight).toBeNull();
      await b.setResource('r', { capacity: 16, external: 2 });
      await p;
      expect(eight!.units).toBe(8);
      await eight!.release();
    });

    it('times out at the deadline with E_TIMEOUT and leaves no trace', async () => {
      const b = await make(1);
      const held = await b.acquire(req('r', 1, 0));
      const late = b.acquire(req('r', 1, 5, { deadline: Date.now() + 30 }));
      const next = b.acquire(req('r', 1, 1));
      await expect(late).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      await until(async () => (await view(b)).resources[0]!.waiters.length === 1, 'the timed-out waiter to leave');
      expect((await view(b)).resources[0]!.waiters.map((w) => w.priority)).toEqual([1]);
      await held.release();
      await (await next).release();
      expect(b.usage('r')).toMatchObject({ declared: 0, waiting: 0 });
    });

    it('a deadline already passed means try once', async () => {
      const b = await make(1);
      const held = await b.acquire(req('r', 1, 0));
      await expect(b.acquire(req('r', 1, 0, { deadline: Date.now() }))).rejects.toMatchObject({ code: 'E_TIMEOUT' });
      expect(b.usage('r')!.waiting).toBe(0);
      await held.release();
      await (await b.acquire(req('r', 1, 0, { deadline: Date.now() }))).release();
    });

    it('removes an aborted waiter at once (E_ABORTED) and rejects an already aborted signal', async () => {
      const b = await make(1);
      const held = await b.acquire(req('r', 1, 0));
      const ac = new AbortController();
      const p = b.acquire(req('r', 1, 0, { signal: ac.signal }));
      await waiting(1);
      ac.abort(new Error('user gave up'));
      await expect(p).rejects.toMatchObject({ code: 'E_ABORTED' });
      await waiting(0);
      await expect(b.acquire(req('r', 1, 0, { signal: ac.signal }))).rejects.toMatchObject({ code: 'E_ABORTED' });
      await held.release();
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
      await (await small).release();
      await held.release();
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
      await held.release();
      await (await w1).release();
      await (await w2).release();
      await (await other).release();
    });

    it('release is idempotent; a wrong token is refused and counted', async () => {
      const b = await make(1);
      const g = await b.acquire(req('r', 1, 0));
      expect(await b.release('r', 'not-a-token')).toBe('not-owner');
      expect(b.usage('r')!.declared).toBe(1);
      expect((await view(b)).ownershipViolations).toBe(1);
      expect(await g.release()).toBe(true);
      expect(await g.release()).toBe(false);
      expect(await b.release('r', g.token)).toBe('already-released');
      expect(b.usage('r')!.declared).toBe(0);
    });

    it('a closed resource takes no new grants; reopening lets waiters in', async () => {
      const b = await make(4);
      await b.setResource('r', { capacity: 4, closed: true });
      if (factory.closedRefusesNew) {
        // Redis: a closed resource refuses new requests (E_CLOSED) rather than queueing them.
        await expect(b.acquire(req('r', 1, 0))).rejects.toMatchObject({ code: 'E_CLOSED' });
        await b.setResource('r', { capacity: 4 });
        await (await b.acquire(req('r', 1, 0))).release();
        return;
      }
      let got: Grant | null = null;
      const p = b.acquire(req('r', 1, 0)).then((g) => (got = g));
      await tick();
      expect(got).toBeNull();
      await b.setResource('r', { capacity: 4 });
      await p;
      await got!.release();
    });

    it('revoke frees the units and aborts lost with E_LEASE_LOST', async () => {
      const b = await make(1);
      const g = await b.acquire(req('r', 1, 0));
      const lost = g.lost;
      const next = b.acquire(req('r', 1, 0));
      await waiting(1);
      expect(await b.revoke('r', g.token)).toBe(true);
      expect(lost.aborted).toBe(true);
      expect(lost.reason).toMatchObject({ code: 'E_LEASE_LOST' });
      await (await next).release();
      expect(await g.release()).toBe(false);
    });

    it('close rejects waiters with E_CLOSED and aborts holds', async () => {
      const b = await make(1);
      const g = await b.acquire(req('r', 1, 0));
      const w = b.acquire(req('r', 1, 0));
      const refused = expect(w).rejects.toMatchObject({ code: 'E_CLOSED' });
      await b.close();
      await refused;
      expect(g.lost.aborted).toBe(true);
    });
  });
}
