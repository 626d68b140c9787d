// `gpu-arbiter dashboard --redis URL` on a real redis-server with a password: the live node's GPUs
// with their holders and queue (read with RedisLeases.inspect()), and the password nowhere in what
// the page, state.json or the command's own output shows - also when the password is wrong.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { runDashboardCommand } from '../src/cli/dashboard';
import type { DashboardFrame, GpuPanel } from '../src/dashboard/types';
import { fakeGpus, GiB } from './helpers/fake-monitor';
import { RedisServer } from './helpers/redis-server';
import { get, openSse, type SseEvent } from './helpers/sse';

const PASSWORD = 'dash-secret-Pw-4711';
let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start(['--requirepass', PASSWORD]);
});
afterAll(async () => {
  await server?.stop();
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function dashboard(args: string[], err: string[]): Promise<number> {
  const stop = new AbortController();
  let port = -1;
  const done = runDashboardCommand(
    ['--port', '0', '--interval', '200', ...args],
    { out: { write: () => true }, err: { write: (s: string) => err.push(s) }, signal: stop.signal },
    (p) => {
      port = p;
    },
  );
  cleanups.push(async () => {
    stop.abort();
    await done;
  });
  while (port < 0) await new Promise((r) => setTimeout(r, 10));
  return port;
}

const frameOf = (e: SseEvent): DashboardFrame => (e.data as { frame: DashboardFrame }).frame;

describe('gpu-arbiter dashboard --redis', () => {
  it("shows each live node's GPUs with holders and queue, and never the password", async () => {
    const url = `redis://:${PASSWORD}@127.0.0.1:${server.port}`;
    const namespace = `d${randomBytes(4).toString('hex')}`;
    const arbiter = await GpuArbiter.create({
      backend: 'redis',
      redis: url,
      namespace,
      nodeId: 'node-dash',
      monitor: fakeGpus({ totalMiB: 16 * GiB, uuid: 'GPU-d0', name: 'Sim R16' }),
      policies: { BIG: { priority: 40, vramMiB: 9 * GiB, maxWaitMs: 30_000 } },
    });
    cleanups.push(() => arbiter.close());
    const first = await arbiter.acquire('BIG', { label: 'redis-job-1' });
    const queued = arbiter.acquire('BIG', { label: 'redis-job-2' });
    queued.catch(() => undefined);

    const err: string[] = [];
    const port = await dashboard(['--redis', url, '--namespace', namespace], err);
    const sse = await openSse(port, '/events');
    cleanups.push(() => sse.close());
    const panel = (e: SseEvent): GpuPanel | undefined => frameOf(e)?.gpus.find((g) => g.group?.startsWith('node node-dash'));
    const both = await sse.next((e) => (panel(e)?.queue.length ?? 0) === 1 && (panel(e)?.holders.length ?? 0) === 1, 'a holder and a waiter', 15_000);
    const g = panel(both)!;
    expect(frameOf(both).source).toBe('redis');
    expect(frameOf(both).title).toContain('redis://:***@127.0.0.1');
    expect([g.name, g.totalMiB, g.utilPercent]).toEqual(['Sim R16', 16 * GiB, null]);
    expect(g.holders.map((h) => [h.label, h.task, h.vramMiB])).toEqual([['redis-job-1', 'BIG', 9 * GiB]]);
    expect(g.queue.map((w) => [w.position, w.label, w.priority, w.vramMiB])).toEqual([[0, 'redis-job-2', 40, 9 * GiB]]);

    await first.release();
    const second = await queued;
    await sse.next((e) => panel(e)?.holders[0]?.label === 'redis-job-2' && panel(e)?.queue.length === 0, 'redis-job-2 granted', 15_000);
    await second.release();

    const state = await get(port, '/state.json');
    const page = await get(port, '/');
    for (const text of [sse.raw(), state.body, page.body, err.join('')]) expect(text).not.toContain(PASSWORD);
  });

  it('with a wrong password says it could not read Redis, without showing the password given', async () => {
    const wrong = 'wrong-Secret-9921';
    const err: string[] = [];
    const port = await dashboard(['--redis', `redis://:${wrong}@127.0.0.1:${server.port}`], err);
    const sse = await openSse(port, '/events');
    cleanups.push(() => sse.close());
    const hello = await sse.next((e) => e.event === 'hello', 'hello', 15_000);
    expect(frameOf(hello).notes.join(' ')).toMatch(/could not read/);
    const state = await get(port, '/state.json');
    for (const text of [sse.raw(), state.body, err.join('')]) expect(text).not.toContain(wrong);
  });
});
