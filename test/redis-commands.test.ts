// What one acquire+release costs Redis, counted (INFO commandstats), not timed: an uncontended
// cycle is two script calls that do no queue work, and a handoff stays two client commands per
// acquire+release whatever the number of waiters (./../src/backends/redis/lua/prelude.ts).
import * as os from 'node:os';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceKeys } from '../src/backends/redis/keys';
import { RedisLeases } from '../src/backends/redis/leases';
import { holder } from './helpers/redis-lease-suite';
import { RedisServer } from './helpers/redis-server';
import { waitFor, waitForAsync } from './helpers/wait';

let server: RedisServer;
let admin: Redis;
beforeAll(async () => {
  server = await RedisServer.start();
  admin = new Redis(server.url);
});
afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
});

/** Calls per command since the last CONFIG RESETSTAT (the test's own INFO and CONFIG left out). */
async function calls(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await admin.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m && !/^(info|config)/.test(m[1] as string)) out[m[1] as string] = Number(m[2]);
  }
  return out;
}

let nsSeq = 0;
const ns = () => `cmds${++nsSeq}`;

describe('Redis commands per acquire+release', () => {
  it('uncontended: 2 script calls per cycle, 16 commands inside them, and no queue work', async () => {
    const leases = await RedisLeases.open({ redis: server.url, namespace: ns() });
    try {
      await leases.setResource('gpu', { capacity: 1 });
      for (let i = 0; i < 5; i++) await (await leases.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() })).release();
      await admin.config('RESETSTAT');
      const cycles = 50;
      for (let i = 0; i < cycles; i++) {
        const g = await leases.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
        expect(await g.release()).toBe('released');
      }
      const c = await calls();
      // Sent by the client: one ACQUIRE and one RELEASE.
      expect(c.evalsha).toBe(2 * cycles);
      // ACQUIRE: TIME, HMGET meta, ZCARD queue, INCR fence, HSET holder, ZADD expiry, HINCRBY declared.
      // RELEASE: TIME, ZCARD queue, ZRANGEBYSCORE (one due holder?), HGET holder, HDEL, ZREM,
      // HINCRBY declared, ZADD tombstone, HMGET meta; tombstones trimmed about one release in 16.
      const trims = c.zremrangebyscore ?? 0;
      expect(c.zremrangebyrank ?? 0).toBe(trims);
      const inside = Object.entries(c)
        .filter(([k]) => !['evalsha', 'zremrangebyscore', 'zremrangebyrank'].includes(k))
        .reduce((n, [, v]) => n + v, 0);
      expect(inside).toBe(16 * cycles);
      expect(c.zrangebyscore).toBe(cycles);
      // No queue work: nobody waits, so no head read, rank, count, sequence number or publish.
      for (const cmd of ['zrange', 'zrank', 'zcount', 'zscore', 'publish', 'hget']) {
        expect(c[cmd] ?? 0, cmd).toBe(cmd === 'hget' ? cycles : 0);
      }
    } finally {
      await leases.close();
    }
  });

  it('a handoff stays 2 client commands per acquire+release with 1 and with 8 waiters', async () => {
    const n = ns();
    for (const waiters of [1, 8]) {
      // waiterTtlMs 20 s: the waiters' heartbeats (every waiterTtl / 3) do not fall in the run; lease TTL
      // longer still, so a provisional grant never runs out before the next waiter's heartbeat would.
      const clients = await Promise.all(
        Array.from({ length: waiters + 1 }, () => RedisLeases.open({ redis: server.url, namespace: n, waiterTtlMs: 20_000, leaseTtlMs: 30_000 })),
      );
      try {
        await clients[0]!.setResource('gpu', { capacity: 1 });
        const first = await clients[0]!.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
        const pending = clients.slice(1).map((l) => l.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() }));
        const queue = resourceKeys(n, 'gpu').waiters;
        await waitForAsync(async () => (await admin.zcard(queue)) === waiters, 'all waiters queued');
        await admin.config('RESETSTAT');
        let grants = 0;
        await first.release();
        // Each waiter is granted in turn (by the release before it) and releases at once.
        await Promise.all(
          pending.map(async (p) => {
            const g = await p;
            grants++;
            await g.release();
          }),
        );
        const c = await calls();
        // Per grant: its RELEASE (which grants the next waiter and publishes it once); each
        // waiter's ACQUIRE was sent before the count began. No heartbeat, no poll, no RENEW.
        expect(grants).toBe(waiters);
        expect(c.evalsha).toBe(waiters + 1);
        expect(c.publish).toBe(waiters);
      } finally {
        for (const l of clients) await l.close();
      }
    }
  });

  it("the new head waiter is woken ('e|id|ms') only when the provisional grant runs out before its own heartbeat would", async () => {
    const n = ns();
    const holderSide = await RedisLeases.open({ redis: server.url, namespace: n, leaseTtlMs: 30_000 });
    // Granted provisionally for its waiter TTL (600 ms): shorter than the head's heartbeat TTL.
    const quick = await RedisLeases.open({ redis: server.url, namespace: n, leaseTtlMs: 30_000, waiterTtlMs: 600 });
    const slow = await RedisLeases.open({ redis: server.url, namespace: n, leaseTtlMs: 30_000, waiterTtlMs: 20_000 });
    const wakes: string[] = [];
    try {
      await holderSide.setResource('gpu', { capacity: 1 });
      const g = await holderSide.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const first = quick.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const queue = resourceKeys(n, 'gpu').waiters;
      await waitForAsync(async () => (await admin.zcard(queue)) === 1, 'first waiter queued');
      const second = slow.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      await waitForAsync(async () => (await admin.zcard(queue)) === 2, 'second waiter queued');
      const sub = admin.duplicate();
      await sub.subscribe(slow.channel);
      sub.on('message', (_ch: string, msg: string) => wakes.push(msg));
      await g.release();
      const g1 = await first;
      await waitFor(() => wakes.length === 1, "the head's wake-up");
      expect(wakes[0]).toMatch(/^e\|[0-9a-f]{32}\|\d+$/);
      expect(Number(wakes[0]!.split('|')[2])).toBeLessThanOrEqual(600);
      // Released by its holder: the head is granted by that release (one 'g'), nothing else.
      await g1.release();
      await (await second).release();
      expect(wakes.filter((m) => m.startsWith('e|'))).toHaveLength(1);
      sub.disconnect();
    } finally {
      await holderSide.close();
      await quick.close();
      await slow.close();
    }
  });

  it('a holder record written without cjson (fast path) reads as one written with it (handoff), whatever the holder holds', async () => {
    const n = ns();
    const a = await RedisLeases.open({ redis: server.url, namespace: n });
    const b = await RedisLeases.open({ redis: server.url, namespace: n });
    try {
      await a.setResource('gpu', { capacity: 5 });
      const odd = { leaseId: 'l"1\\', task: 'q"uo\\te ü 💥 "u":9,"c":"x"', pid: 7, label: '\n\t}' };
      const fast = await a.acquire({ resource: 'gpu', units: 3, priority: 4, holder: odd });
      const queued = b.acquire({ resource: 'gpu', units: 4, priority: 2, holder: odd });
      await waitForAsync(async () => (await admin.zcard(resourceKeys(n, 'gpu').waiters)) === 1, 'queued');
      const raw = await admin.hget(resourceKeys(n, 'gpu').holders, fast.token);
      expect(JSON.parse(raw as string)).toEqual({
        u: 3,
        f: String(fast.fencingToken),
        at: fast.grantedAt,
        w: 0,
        h: JSON.stringify({ host: os.hostname(), ...odd }),
        c: a.channel,
        p: 4,
      });
      // Released by the holder: its units (read from the record without decoding it) come back,
      // and the waiter is granted by that release through the record it carried.
      expect(await fast.release()).toBe('released');
      const handed = await queued;
      const view = (await b.inspect({ resources: ['gpu'] })).resources[0]!;
      expect(view.declared).toBe(4);
      expect(view.holders).toEqual([expect.objectContaining({ token: handed.token, units: 4, holder: { host: os.hostname(), ...odd } })]);
      const raw2 = JSON.parse((await admin.hget(resourceKeys(n, 'gpu').holders, handed.token)) as string);
      expect(Object.keys(raw2).sort()).toEqual(['at', 'c', 'f', 'h', 'p', 'u', 'w']);
      expect(raw2).toMatchObject({ u: 4, f: String(handed.fencingToken), c: b.channel, p: 2 });
      // A release by token from another client reads the record's channel: the holder is told.
      const lost = new Promise<unknown>((resolve) => handed.lost.addEventListener('abort', () => resolve(handed.lost.reason), { once: true }));
      expect(await a.release('gpu', handed.token)).toBe('released');
      await expect(lost).resolves.toMatchObject({ details: expect.objectContaining({ reason: 'revoked' }) });
      expect(a.usage('gpu')?.declared).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('an expired holder is not pruned by a request that fits anyway; one that does not fit prunes it first', async () => {
    const n = ns();
    const a = await RedisLeases.open({ redis: server.url, namespace: n });
    const b = await RedisLeases.open({ redis: server.url, namespace: n });
    try {
      await a.setResource('gpu', { capacity: 3 });
      const old = await a.acquire({ resource: 'gpu', units: 2, priority: 1, holder: holder() });
      const lost = new Promise<unknown>((resolve) => old.lost.addEventListener('abort', () => resolve(old.lost.reason), { once: true }));
      // Its expiry as if its process had stopped renewing long ago.
      await admin.zadd(resourceKeys(n, 'gpu').holderExpiry, '1', old.token);
      // 1 unit fits beside the 2 it declared: granted at once, the expired holder left for later.
      const small = await b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      expect(b.usage('gpu')?.declared).toBe(3);
      await small.release();
      // The release pruned it: told 'expired', tombstoned, its units free.
      await expect(lost).resolves.toMatchObject({ code: 'E_LEASE_LOST', details: expect.objectContaining({ reason: 'expired' }) });
      expect(b.usage('gpu')?.declared).toBe(0);
      expect(await old.release()).toBe('already-released');
      // A request that does not fit beside an expired holder prunes it first.
      const old2 = await a.acquire({ resource: 'gpu', units: 2, priority: 1, holder: holder() });
      await admin.zadd(resourceKeys(n, 'gpu').holderExpiry, '1', old2.token);
      const big = await b.acquire({ resource: 'gpu', units: 3, priority: 1, holder: holder() });
      expect(big.fencingToken).toBeGreaterThan(old2.fencingToken);
      expect(b.usage('gpu')?.declared).toBe(3);
      await big.release();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
