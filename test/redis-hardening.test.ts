// Issue 13, the Redis points, on real redis-servers (and child processes where a holder must be
// elsewhere): a release by token from a non-holder ends the hold like revoke() and tells the
// holder at once; a grant that comes late (DEBUG SLEEP stalls) is never handed out lost; a
// release landing on a Redis that restarted empty is no ownership violation; a password never
// shows (errors, util.inspect, events, doctor); namespaces cannot collide and inputs are bounded;
// a wrong password is said at once, with Redis's own words.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../src/backends/redis/backend';
import { collectCluster } from '../src/backends/redis/cluster-view';
import { namespaceKeys, resourceKeyList, resourceKeys, wakeChannel } from '../src/backends/redis/keys';
import { RedisLeases } from '../src/backends/redis/leases';
import { NodeRegistry } from '../src/backends/redis/node-registry';
import { SCRIPTS } from '../src/backends/redis/scripts';
import type { LeaseLostEvent, RedisGrant } from '../src/backends/redis/types';
import { redisChecks } from '../src/doctor/remote';
import { isGpuArbiterError } from '../src/errors';
import { SimulatedGpu } from '../src/gpu/simulated';
import { killAll, spawnLeaseClient, type LeaseChild } from './helpers/redis-children';
import { holder } from './helpers/redis-lease-suite';
import { debugCommandArgs, RedisServer } from './helpers/redis-server';
import { TcpProxy } from './helpers/tcp-proxy';
import { sleep, waitFor } from './helpers/wait';

const PASSWORD = 's3cret-Pa55';

let server: RedisServer;
const open: RedisLeases[] = [];
const children: LeaseChild[] = [];
const raws: Redis[] = [];
beforeAll(async () => {
  server = await RedisServer.start(debugCommandArgs());
});
afterEach(async () => {
  killAll(children);
  await Promise.all(open.map((l) => l.close()));
  open.length = 0;
  for (const r of raws) r.disconnect();
  raws.length = 0;
});
afterAll(async () => {
  await server?.stop();
});

const ns = () => `h${randomBytes(4).toString('hex')}`;
async function leases(namespace: string, extra: Record<string, unknown> = {}, url = server.url): Promise<RedisLeases> {
  const l = await RedisLeases.open({ redis: url, namespace, ...extra });
  open.push(l);
  return l;
}
function raw(url = server.url): Redis {
  const r = new Redis(url);
  r.on('error', () => undefined);
  raws.push(r);
  return r;
}
/** Everything util.inspect can reach from `value`, hidden properties included. */
const deep = (value: unknown) => inspect(value, { depth: Infinity, showHidden: true, getters: true });

describe('release by token from a client that is not the holder (issue 13, point 4)', () => {
  it('ends the hold like revoke(): the holder in another instance is told at once (lost, reason revoked), not at its next renewal', async () => {
    const n = ns();
    const a = await leases(n, { leaseTtlMs: 30_000 }); // renews every 10 s: only a notice can tell it sooner
    const b = await leases(n);
    await a.setResource('gpu', { capacity: 1 });
    const lost: LeaseLostEvent[] = [];
    a.on('lease-lost', (e) => lost.push(e));
    const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    const next = b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    await waitFor(() => b.usage('gpu')?.waiting === 1, 'waiter queued');
    const t0 = performance.now();
    expect(await b.release('gpu', g.token)).toBe('released');
    await waitFor(() => g.lost.aborted, 'the holder told', 1000, 1);
    const ms = performance.now() - t0;
    console.log(`release by token from another instance: holder's lost aborted ${ms.toFixed(1)} ms after the release was sent`);
    expect(g.lost.reason).toMatchObject({ code: 'E_LEASE_LOST', details: { reason: 'revoked' } });
    expect(lost).toEqual([expect.objectContaining({ token: g.token, reason: 'revoked', detail: expect.stringContaining('released by token') })]);
    const g2 = await next; // the units were freed at once
    expect(g2.fencingToken).toBeGreaterThan(g.fencingToken);
    expect(await g.release()).toBe('already-released');
    expect(a.counters().ownershipViolations + b.counters().ownershipViolations).toBe(0);
    expect(await g2.release()).toBe('released');
  });

  it('across processes: a holder in a child process learns within one round trip; a wrong token is still refused and counted', async () => {
    const n = ns();
    const here = await leases(n);
    await here.setResource('gpu', { capacity: 1 });
    const child = spawnLeaseClient({ redis: server.url, namespace: n, mode: 'hold', resource: 'gpu', units: 1, leaseTtlMs: 30_000 });
    children.push(child);
    const [, , token] = (await child.line(/^granted/)).split(' ');
    expect(await here.release('gpu', 'f'.repeat(32))).toBe('not-owner');
    expect(here.counters().ownershipViolations).toBe(1);
    expect(await here.release('gpu', token as string)).toBe('released');
    const line = await child.line(/^lost/, 2000); // its renewal would take 10 s
    expect(line).toMatch(/^lost revoked \d+$/);
    const g = await here.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder(), deadline: Date.now() + 500 });
    await g.release();
    expect(here.counters().ownershipViolations).toBe(1);
  });
});

describe('grants that come late after a Redis stall (issue 13, point 5)', () => {
  it('an ACQUIRE reply held back by DEBUG SLEEP longer than half the lease TTL: the grant is confirmed again, never handed out lost', async () => {
    const n = ns();
    const ttl = 1000;
    const b = await leases(n, { leaseTtlMs: ttl, commandTimeoutMs: 5000 });
    await b.setResource('gpu', { capacity: 1 });
    const stall = raw().call('DEBUG', 'SLEEP', '1.5');
    await sleep(100); // Redis sleeps now: the ACQUIRE waits the stall out
    const t0 = performance.now();
    const g = await b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    const waited = performance.now() - t0;
    await stall;
    expect(waited).toBeGreaterThan(ttl / 2 + 200);
    expect(g.lost.aborted).toBe(false);
    await sleep(0);
    expect(g.lost.aborted).toBe(false);
    await sleep(ttl * 1.5); // renewed meanwhile
    expect(g.lost.aborted).toBe(false);
    expect(b.counters().leasesLost).toBe(0);
    const view = (await b.inspect()).resources.find((r) => r.resource === 'gpu');
    expect(view?.holders.map((h) => h.token)).toEqual([g.token]);
    expect(await g.release()).toBe('released');
    console.log(`stalled ACQUIRE: granted after ${waited.toFixed(0)} ms (lease TTL ${ttl} ms), confirmed before it was handed out`);
  });

  it('a grant published just before a stall (held back past its provisional TTL) is not handed out; the waiter gets a live lease', async () => {
    const n = ns();
    const a = await leases(n);
    const b = await leases(n, { waiterTtlMs: 1000, commandTimeoutMs: 5000 });
    await a.setResource('gpu', { capacity: 1 });
    const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    const bLost: LeaseLostEvent[] = [];
    b.on('lease-lost', (e) => bLost.push(e));
    const waiting = b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    await waitFor(() => b.usage('gpu')?.waiting === 1, 'waiter queued');
    await sleep(50); // a reply has told b the Redis clock
    // One pipeline: the release grants b (provisionally, for its waiter TTL) and publishes it;
    // the stall that follows holds the message back past that TTL.
    const keys = resourceKeyList(resourceKeys(n, 'gpu'));
    const t0 = performance.now();
    const res = await raw()
      .pipeline()
      .eval(SCRIPTS.release.source, keys.length, ...keys, g.token, '0', '-1', '')
      .call('DEBUG', 'SLEEP', '1.5')
      .exec();
    expect(res?.[0]?.[1]).toEqual(['released', expect.any(Array)]);
    const g2: RedisGrant = await waiting;
    const ms = performance.now() - t0;
    expect(g2.lost.aborted).toBe(false);
    await sleep(1500); // longer than the provisional TTL: it was confirmed for a full lease TTL
    expect(g2.lost.aborted).toBe(false);
    expect(bLost).toEqual([]);
    const view = (await b.inspect()).resources.find((r) => r.resource === 'gpu');
    expect(view?.holders.map((h) => h.token)).toEqual([g2.token]);
    expect(await g2.release()).toBe('released');
    expect((await b.inspect()).resources.find((r) => r.resource === 'gpu')?.holders).toEqual([]); // nothing left behind
    console.log(`grant published before a 1.5 s stall: the waiter got a live lease ${ms.toFixed(0)} ms after the release`);
  });
});

describe('a release that lands on a Redis restarted empty (issue 13, point 6)', () => {
  let own: RedisServer;
  beforeAll(async () => {
    own = await RedisServer.start();
  });
  afterAll(async () => {
    await own?.stop();
  });

  it('is no ownership violation: neither when the resource was written again and granted since, nor when Redis is still empty', async () => {
    const n = ns();
    const proxy = await TcpProxy.start(own.port);
    try {
      // The holder reaches Redis through a proxy that can hold its commands back; its releases
      // retry for about 12 s (backoff 50 ms .. 6.4 s).
      const far = await leases(n, { releaseRetries: 8, commandTimeoutMs: 300 }, proxy.url);
      await far.setResource('gpu', { capacity: 1 });
      await far.setResource('other', { capacity: 1 });
      const g = await far.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const o = await far.acquire({ resource: 'other', units: 1, priority: 1, holder: holder() });
      proxy.blackhole();
      const released = [g.release(), o.release()];
      await own.restart(); // empty: no persistence
      // Another host writes 'gpu' again and is granted it (a new fencing counter); 'other' stays unknown.
      const near = await leases(n, {}, own.url);
      await near.setResource('gpu', { capacity: 1 });
      const g2 = await near.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      expect(g2.fencingToken).toBeGreaterThan(g.fencingToken);
      proxy.heal();
      expect(await Promise.all(released)).toEqual(['already-released', 'already-released']);
      expect(far.counters()).toMatchObject({ ownershipViolations: 0, releaseFailures: 0 });
      const view = await near.inspect({ resources: ['gpu'] });
      expect(view.resources[0]).toMatchObject({ ownershipViolations: 0, holders: [expect.objectContaining({ token: g2.token })] });
      // A wrong token for the live hold is still refused and counted.
      expect(await far.release('gpu', 'f'.repeat(32))).toBe('not-owner');
      expect(far.counters().ownershipViolations).toBe(1);
      expect(await g2.release()).toBe('released');
    } finally {
      await proxy.stop();
    }
  }, 30_000);
});

describe('the Redis password never shows (issue 13, point 7)', () => {
  let secure: RedisServer;
  let url: string;
  beforeAll(async () => {
    secure = await RedisServer.start(['--requirepass', PASSWORD]);
    url = `redis://:${PASSWORD}@127.0.0.1:${secure.port}`;
  });
  afterAll(async () => {
    await secure?.stop();
  });

  it('util.inspect of RedisLeases, RedisBackend, NodeRegistry (and what they hold) shows the target masked', async () => {
    const n = ns();
    const l = await leases(n, {}, url);
    const b = await RedisBackend.open({ redis: url, namespace: n, nodeId: 'node-a' });
    const r = await NodeRegistry.start({ redis: url, namespace: n, nodeId: 'node-a', monitor: new SimulatedGpu([{ totalMiB: 8192 }]) });
    try {
      await l.setResource('gpu', { capacity: 1 });
      const g = await l.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const masked = `redis://:***@127.0.0.1:${secure.port}`;
      for (const [what, value] of [
        ['RedisLeases', l],
        ['RedisBackend', b],
        ['NodeRegistry', r],
        ['RedisBackend.leases', b.leases],
        ['a grant', g],
      ] as const) {
        const text = deep(value);
        expect(text, what).not.toContain(PASSWORD);
        if (what !== 'a grant') expect(text, what).toContain(masked);
      }
      expect(inspect(l)).toMatch(/^RedisLeases \{/);
      await g.release();
    } finally {
      await b.close();
      await r.stop();
    }
  });

  it('a URL that does not parse is refused with E_INVALID_ARGUMENT, masked, and no raw TypeError (whose input is the URL)', async () => {
    const bad = `redis://:${PASSWORD}@127.0.0.1:99999`;
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['RedisLeases.open', () => RedisLeases.open({ redis: bad })],
      ['RedisBackend.open', () => RedisBackend.open({ redis: bad })],
      ['NodeRegistry.start', () => NodeRegistry.start({ redis: bad, monitor: new SimulatedGpu([{ totalMiB: 1 }]) })],
      ['collectCluster', () => collectCluster(bad)],
      ['RedisLeases.open (http)', () => RedisLeases.open({ redis: `http://:${PASSWORD}@x` })],
    ];
    for (const [what, attempt] of attempts) {
      const err = await attempt().then(
        () => null,
        (e: unknown) => e,
      );
      expect(isGpuArbiterError(err, 'E_INVALID_ARGUMENT'), what).toBe(true);
      expect((err as Error).message, what).toMatch(/received "(redis|http):\/\/:\*\*\*@/);
      expect(deep(err), what).not.toContain(PASSWORD);
    }
    // The doctor says what is wrong without the password, however it reports it.
    const doctor = await redisChecks({ url: bad, timeoutMs: 500 }).then(
      (checks) => deep(checks),
      (e: unknown) => deep(e),
    );
    expect(doctor).not.toContain(PASSWORD);
    expect(doctor).toContain('***');
  });

  it('events and errors while Redis goes away and comes back carry no password', async () => {
    const n = ns();
    const l = await leases(n, { commandTimeoutMs: 300, leaseTtlMs: 600 }, url);
    const seen: unknown[] = [];
    for (const e of ['backend-down', 'backend-up', 'backend-error', 'renewal-failing', 'lease-lost', 'critical-failure'] as const) {
      l.on(e, (...args: unknown[]) => seen.push([e, ...args]));
    }
    await l.setResource('gpu', { capacity: 1 });
    const g = await l.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    await secure.kill();
    seen.push(await l.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() }).catch((e: unknown) => e));
    await waitFor(() => g.lost.aborted, 'lease lost', 3000);
    seen.push(g.lost.reason);
    await secure.restart();
    await waitFor(() => seen.some((s) => Array.isArray(s) && s[0] === 'backend-up'), 'backend-up', 5000);
    expect(seen.length).toBeGreaterThan(3);
    expect(deep(seen)).not.toContain(PASSWORD);
  });
});

describe('namespaces and inputs (issue 13, point 8)', () => {
  it('namespace "p:x" + resource "y" and namespace "p" + resource "x:y" use different keys (one hash tag each)', async () => {
    const p = ns();
    const k1 = resourceKeyList(resourceKeys(`${p}:x`, 'y'));
    const k2 = resourceKeyList(resourceKeys(p, 'x:y'));
    for (const k of k1) expect(k2).not.toContain(k);
    for (const keys of [k1, k2]) expect(new Set(keys.map((k) => /\{[^}]*\}/.exec(k)?.[0])).size).toBe(1);
    expect(k1[0]).toBe(`gpa:{${p}|x:y}:meta`);
    expect(k2[0]).toBe(`gpa:{${p}:x:y}:meta`); // a namespace without ':' keeps its keys
    expect(namespaceKeys(`${p}:x`).nodes).not.toBe(namespaceKeys(p).nodes);
    expect(wakeChannel(`${p}:x`, 'i')).not.toBe(wakeChannel(p, 'x:i'));

    // Live: each holds its own resource, neither sees the other's.
    const a = await leases(`${p}:x`);
    const b = await leases(p);
    await a.setResource('y', { capacity: 1 });
    await b.setResource('x:y', { capacity: 1 });
    const ga = await a.acquire({ resource: 'y', units: 1, priority: 1, holder: holder() });
    const gb = await b.acquire({ resource: 'x:y', units: 1, priority: 1, holder: holder(), deadline: Date.now() + 300 });
    expect((await a.inspect()).resources.map((r) => [r.resource, r.holders.length])).toEqual([['y', 1]]);
    expect((await b.inspect()).resources.map((r) => [r.resource, r.holders.length])).toEqual([['x:y', 1]]);
    await ga.release();
    await gb.release();
  });

  it('refuses names that break a hash tag, oversized names and records, and an empty token, with E_INVALID_ARGUMENT naming the limit', async () => {
    const a = await leases(ns());
    await a.setResource('gpu', { capacity: 1 });
    const req = (extra: Record<string, unknown>) => ({ resource: 'gpu', units: 1, priority: 1, holder: holder(), ...extra });
    const refusals: Array<[string, () => Promise<unknown>, RegExp]> = [
      ['resource with }', () => a.setResource('gpu}x', { capacity: 1 }), /a resource name without \{ or \} for resource but received "gpu\}x"/],
      ['resource with {', () => a.acquire(req({ resource: 'a{b' })), /without \{ or \} for request.resource/],
      ['resource over 256', () => a.acquire(req({ resource: 'r'.repeat(257) })), /at most 256 characters for request.resource but received 257/],
      [
        '1 MB task',
        () => a.acquire(req({ holder: { leaseId: 'l', task: 't'.repeat(1 << 20), pid: 1 } })),
        /at most 256 characters for request.holder.task but received 1048576/,
      ],
      ['4 KiB holder record', () => a.acquire(req({ holder: { ...holder(), note: 'n'.repeat(5000) } })), /at most 4096 bytes of JSON for request.holder/],
      ['queue group over 256', () => a.acquire(req({ queueGroup: 'g'.repeat(300) })), /at most 256 characters for request.queueGroup/],
      ["release('')", () => a.release('gpu', ''), /a lease token \(a non-empty string\) for token but received ""/],
      ['token over 128', () => a.release('gpu', 'f'.repeat(129)), /at most 128 characters for token/],
      ['revoke of resource with }', () => a.revoke('gpu}', 'f'.repeat(32), 'x'), /for resource but received "gpu\}"/],
      ['namespace over 128', () => RedisLeases.open({ redis: server.url, namespace: 'n'.repeat(129) }), /at most 128 characters for options.namespace/],
      ['nodeId with {', () => RedisBackend.open({ redis: server.url, nodeId: 'a{b' }), /for options.nodeId but received "a\{b"/],
    ];
    for (const [what, attempt, message] of refusals) {
      const err = await attempt().then(
        () => null,
        (e: unknown) => e,
      );
      expect(isGpuArbiterError(err, 'E_INVALID_ARGUMENT'), what).toBe(true);
      expect((err as Error).message, what).toMatch(message);
      expect((err as Error).message.length, what).toBeLessThan(300);
    }
    expect(a.counters().ownershipViolations).toBe(0); // release('') is no violation
    expect((await a.inspect()).resources.find((r) => r.resource === 'gpu')?.ownershipViolations).toBe(0);
    // At the limits: accepted.
    await a.setResource('r'.repeat(256), { capacity: 1 });
    const g = await a.acquire(req({ resource: 'r'.repeat(256), holder: { leaseId: 'l'.repeat(256), task: 't'.repeat(256), pid: 1 } }));
    expect(await g.release()).toBe('released');
  });
});

describe('a wrong Redis password (issue 13, point 9)', () => {
  let secure: RedisServer;
  beforeAll(async () => {
    secure = await RedisServer.start(['--requirepass', PASSWORD]);
  });
  afterAll(async () => {
    await secure?.stop();
  });

  it("is reported at once with Redis's reply (WRONGPASS, NOAUTH), not as a connect timeout; the right one works", async () => {
    const cases: Array<[string, string, RegExp]> = [
      ['wrong password', `redis://:wrong-${PASSWORD}@127.0.0.1:${secure.port}`, /refused the credentials: WRONGPASS/],
      ['wrong user', `redis://nobody:${PASSWORD}@127.0.0.1:${secure.port}`, /refused the credentials: WRONGPASS/],
      ['no password', `redis://127.0.0.1:${secure.port}`, /refused the credentials: NOAUTH/],
    ];
    for (const [what, url, message] of cases) {
      const t0 = performance.now();
      const err = await RedisLeases.open({ redis: url, connectTimeoutMs: 5000 }).then(
        () => null,
        (e: unknown) => e,
      );
      const ms = performance.now() - t0;
      expect(isGpuArbiterError(err, 'E_BACKEND_UNAVAILABLE'), what).toBe(true);
      expect((err as Error).message, what).toMatch(message);
      expect(deep(err), what).not.toContain(PASSWORD);
      expect(ms, what).toBeLessThan(1000);
      console.log(`${what}: refused in ${ms.toFixed(0)} ms: ${(err as Error).message}`);
    }
    const l = await leases(ns(), {}, `redis://:${PASSWORD}@127.0.0.1:${secure.port}`);
    await l.setResource('gpu', { capacity: 1 });
    await (await l.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() })).release();
    // `gpu-arbiter status --redis` says it too.
    await expect(collectCluster(`redis://:nope@127.0.0.1:${secure.port}`)).rejects.toThrow(/WRONGPASS/);
  });
});
