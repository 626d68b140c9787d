// RedisLeases across real processes (each stands for a host): capacity under a 10 s hammer
// with a fencing checker, a SIGKILLed holder reclaimed by TTL, a dead waiter pruned by its own
// heartbeat, priority and FIFO across processes. Children run the built package (dist/).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisLeases } from '../src/backends/redis/leases';
import { checkLog } from './helpers/lease-log';
import { killAll, spawnLeaseClient, type LeaseChild } from './helpers/redis-children';
import { holder } from './helpers/redis-lease-suite';
import { RedisServer } from './helpers/redis-server';
import { sleep, waitFor } from './helpers/wait';

let server: RedisServer;
let dir: string;
const children: LeaseChild[] = [];
const open: RedisLeases[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpa-redis-proc-'));
});
afterEach(async () => {
  killAll(children);
  await Promise.all(open.map((l) => l.close()));
  open.length = 0;
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const ns = () => `p${randomBytes(4).toString('hex')}`;
async function leases(namespace: string, extra: Record<string, unknown> = {}): Promise<RedisLeases> {
  const l = await RedisLeases.open({ redis: server.url, namespace, ...extra });
  open.push(l);
  return l;
}
function child(cfg: Record<string, unknown>): LeaseChild {
  const c = spawnLeaseClient({ redis: server.url, ...cfg });
  children.push(c);
  return c;
}

describe('RedisLeases across processes', () => {
  it('capacity: 4 processes x 8 leases hammer a weighted resource (and a mutex) for 10 s; no overlap beyond capacity', async () => {
    const n = ns();
    const admin = await leases(n);
    await admin.setResource('weighted', { capacity: 6 });
    await admin.setResource('mutex', { capacity: 1 });
    const logFile = path.join(dir, `${n}.log`);
    fs.writeFileSync(logFile, '');
    const procs = Array.from({ length: 4 }, () =>
      child({
        namespace: n,
        mode: 'hammer',
        durationMs: 10_000,
        concurrency: 8,
        logFile,
        resources: [
          { name: 'weighted', maxUnits: 3 },
          { name: 'mutex', units: 1, maxUnits: 1 },
        ],
      }),
    );
    const results = await Promise.all(
      procs.map(async (p) => {
        const line = await p.line(/^\{/, 40_000);
        const exit = await p.exited;
        expect(exit.code).toBe(0);
        return JSON.parse(line) as { grants: number; errors: number; counters: Record<string, number> };
      }),
    );
    const check = checkLog(fs.readFileSync(logFile, 'utf8'), new Set(['mutex']));
    const total = results.reduce((s, r) => s + r.grants, 0);
    console.log(
      `hammer: ${total} grants in 10 s by 32 leases in 4 processes (${(total / 10).toFixed(0)}/s); ` +
        `peak weighted ${check.peak.weighted}/6, peak mutex ${check.peak.mutex}/1; grants ${JSON.stringify(check.grants)}`,
    );
    expect(results.every((r) => r.errors === 0)).toBe(true);
    expect(results.every((r) => r.counters.ownershipViolations === 0 && r.counters.releaseFailures === 0)).toBe(true);
    expect(check.peak.weighted).toBeLessThanOrEqual(6);
    expect(check.peak.mutex).toBe(1);
    expect(check.duplicateFences).toBe(0);
    expect(check.mutexOrderViolations).toEqual({});
    expect(check.unmatched).toBe(0);
    expect(check.grants.weighted).toBeGreaterThan(100);
    expect(check.grants.mutex).toBeGreaterThan(100);
    const u = (await admin.inspect()).resources;
    expect(u.map((r) => [r.resource, r.declared, r.waiting, r.holders.length])).toEqual([
      ['mutex', 0, 0, 0],
      ['weighted', 0, 0, 0],
    ]);
  }, 60_000);

  it('SIGKILL a holder: another host’s waiter is granted within TTL + one wake-up', async () => {
    const n = ns();
    const ttl = 1500;
    const here = await leases(n);
    await here.setResource('gpu', { capacity: 1 });
    const h = child({ namespace: n, mode: 'hold', resource: 'gpu', units: 1, leaseTtlMs: ttl });
    await h.line(/^granted/);
    const waiting = here.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder('waiter') });
    await waitFor(() => here.usage('gpu')?.waiting === 1, 'waiter queued');
    await sleep(ttl); // the holder renews while alive: still not granted after a full TTL
    expect(here.usage('gpu')?.declared).toBe(1);
    const t0 = performance.now();
    h.proc.kill('SIGKILL');
    const g = await waiting;
    const ms = performance.now() - t0;
    console.log(`SIGKILLed holder (TTL ${ttl} ms) reclaimed by a waiter after ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(ttl + 1000);
    await g.release();
  });

  it('a waiter that dies is pruned by its own heartbeat and never blocks the queue', async () => {
    const n = ns();
    const here = await leases(n);
    await here.setResource('gpu', { capacity: 1 });
    const g = await here.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    const logFile = path.join(dir, `${n}.log`);
    const dying = child({ namespace: n, mode: 'wait', resource: 'gpu', units: 1, priority: 99, waiterTtlMs: 400, tag: 'dying', logFile });
    await dying.line(/^queued/);
    // Wait until the dying waiter is visibly at the head, then kill it.
    const waitHead = async () => {
      for (;;) {
        const r = (await here.inspect()).resources.find((x) => x.resource === 'gpu');
        if (r && r.waiters.length === 1 && r.waiters[0]!.priority === 99) return;
        await sleep(20);
      }
    };
    await waitHead();
    const low = here.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder('low') });
    dying.proc.kill('SIGKILL');
    await dying.exited;
    await sleep(700); // > its waiter TTL: its heartbeat lapsed
    const t0 = performance.now();
    await g.release();
    const next = await low;
    console.log(`after a dead waiter: next live waiter granted ${(performance.now() - t0).toFixed(2)} ms after release`);
    expect(performance.now() - t0).toBeLessThan(500);
    const r = (await here.inspect()).resources.find((x) => x.resource === 'gpu');
    expect(r?.waiters).toEqual([]);
    expect(r?.holders.map((x) => x.token)).toEqual([next.token]);
    await next.release();
  });

  it('a waiter that dies just before a handoff blocks no longer than its heartbeat TTL (provisional grant)', async () => {
    const n = ns();
    const here = await leases(n);
    await here.setResource('gpu', { capacity: 1 });
    const g = await here.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    const logFile = path.join(dir, `${n}.log`);
    const dying = child({
      namespace: n,
      mode: 'wait',
      resource: 'gpu',
      units: 1,
      priority: 99,
      leaseTtlMs: 30_000,
      waiterTtlMs: 600,
      tag: 'dying',
      logFile,
    });
    await dying.line(/^queued/);
    for (;;) {
      const r = (await here.inspect()).resources.find((x) => x.resource === 'gpu');
      if (r && r.waiters.length === 1) break;
      await sleep(20);
    }
    const low = here.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder('low') });
    dying.proc.kill('SIGKILL');
    await dying.exited;
    const t0 = performance.now();
    await g.release(); // hands over to the dead waiter (its heartbeat has not lapsed yet)
    const next = await low;
    const ms = performance.now() - t0;
    console.log(`handoff to a dead waiter (lease TTL 30 s, waiter TTL 600 ms): next live waiter granted after ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(600 + 800);
    await next.release();
  });

  it('priority across hosts, FIFO within a priority', async () => {
    const n = ns();
    const here = await leases(n);
    await here.setResource('gpu', { capacity: 1 });
    const g = await here.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
    const logFile = path.join(dir, `${n}.log`);
    fs.writeFileSync(logFile, '');
    const plan: Array<[string, number]> = [
      ['low-1', 10],
      ['mid-1', 50],
      ['low-2', 10],
      ['high', 90],
      ['mid-2', 50],
    ];
    const procs: LeaseChild[] = [];
    for (const [tag, priority] of plan) {
      const c = child({ namespace: n, mode: 'wait', resource: 'gpu', units: 1, priority, tag, logFile, holdMs: 5 });
      procs.push(c);
      // Enqueue one at a time so FIFO order within a priority is defined.
      const want = procs.length;
      for (;;) {
        const r = (await here.inspect()).resources.find((x) => x.resource === 'gpu');
        if ((r?.waiters.length ?? 0) >= want) break;
        await sleep(20);
      }
    }
    await g.release();
    await Promise.all(procs.map((p) => p.line(/^released/)));
    const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['high', 'mid-1', 'mid-2', 'low-1', 'low-2']);
    const fences = lines.map((l) => Number(l.split(' ')[1]));
    for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1] as number);
  });
});
