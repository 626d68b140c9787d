// arbiter.dashboardHandler() without a browser: the SSE stream (hello with the frame and chart
// history, a frame per grant/release, alerts as raised), the token (401 without it; query,
// Bearer and X-Gpu-Arbiter-Token accepted; static files open), read-only routes, option checks,
// close() ending the streams; and the VRAM bar arithmetic the page draws.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { DashboardFrame, GpuPanel } from '../src/dashboard/types';
import { percentile, vramSegments } from '../src/dashboard/vram';
import { isGpuArbiterError } from '../src/errors';
import type { SimulatedGpu } from '../src/gpu/simulated';
import { fakeGpus, GiB, OUTSIDER, sample } from './helpers/fake-monitor';
import { get, openSse, type SseEvent, type SseStream } from './helpers/sse';

const TOKEN = 'handler-test-token';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(options: Parameters<GpuArbiter['dashboardHandler']>[0] = {}): Promise<{ arbiter: GpuArbiter; gpu: SimulatedGpu; port: number }> {
  const gpu = fakeGpus({ totalMiB: 16 * GiB, name: 'Sim 16G', processes: [{ pid: OUTSIDER, usedMiB: 2 * GiB }], gpuPercent: 40 });
  const arbiter = await GpuArbiter.create({
    monitor: gpu,
    maxFraction: 0.9,
    policies: { BIG: { priority: 60, vramMiB: 9 * GiB, busyPolicy: 'WAIT', maxWaitMs: 30_000 } },
  });
  const server = http.createServer(arbiter.dashboardHandler({ intervalMs: 100, ...options }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await arbiter.close();
  });
  return { arbiter, gpu, port: (server.address() as AddressInfo).port };
}

const frameOf = (e: SseEvent): DashboardFrame => (e.data as { frame: DashboardFrame }).frame;
const gpu0 = (e: SseEvent): GpuPanel | undefined => frameOf(e)?.gpus.find((g) => g.id === 'gpu:0');

describe('dashboardHandler: the event stream', () => {
  it('sends hello, then a frame per grant and release with holders and the queue, and chart points', async () => {
    const { arbiter, port } = await serve();
    const sse: SseStream = await openSse(port, '/events');
    cleanups.push(() => sse.close());
    expect(sse.status).toBe(200);
    const hello = await sse.next((e) => e.event === 'hello', 'hello');
    const h = hello.data as { frame: DashboardFrame; history: unknown[]; historyMs: number; alerts: unknown[] };
    expect(h.frame.source).toBe('arbiter');
    expect(h.frame.gpus.map((g) => [g.id, g.name, g.totalMiB])).toEqual([['gpu:0', 'Sim 16G', 16 * GiB]]);
    expect(h.historyMs).toBe(300_000);
    expect(h.frame.health?.status).toBe('ok');

    const first = await arbiter.acquire('BIG', { label: 'job-1', pid: 6001 });
    const queued = arbiter.acquire('BIG', { label: 'job-2', pid: 6002 });
    const held = await sse.next((e) => e.event === 'frame' && gpu0(e)?.queue.length === 1, 'a frame with one holder and one waiter');
    const g = gpu0(held)!;
    expect(g.holders.map((x) => [x.label, x.task, x.pid, x.vramMiB])).toEqual([['job-1', 'BIG', 6001, 9 * GiB]]);
    expect(g.queue.map((w) => [w.position, w.label, w.priority, w.vramMiB])).toEqual([[0, 'job-2', 60, 9 * GiB]]);
    // The bar: the holder, outside use (the outsider's 2 GiB), the 10% headroom, and what is left.
    expect(g.segments.map((s) => s.kind)).toEqual(['holder', 'outside', 'reserved', 'free']);
    expect(g.segments.reduce((sum, s) => sum + s.mib, 0)).toBe(16 * GiB);
    expect(g.segments[0]!.label).toBe('job-1 · BIG · pid 6001');

    await first.release();
    const second = await queued;
    const moved = await sse.next((e) => e.event === 'frame' && gpu0(e)?.holders[0]?.label === 'job-2', 'job-2 granted');
    expect(gpu0(moved)!.queue).toEqual([]);
    await second.release();
    const after = (e: SseEvent) => sse.events.indexOf(e) > sse.events.indexOf(moved);
    await sse.next((e) => e.event === 'frame' && after(e) && gpu0(e)?.holders.length === 0, 'a frame with job-2 released');
    // Tick frames carry a chart point; the grants of this test show in grants/s.
    const point = await sse.next(
      (e) => e.event === 'frame' && ((e.data as { point: { grantsPerSec: number } | null }).point?.grantsPerSec ?? 0) > 0,
      'a chart point counting the grants',
    );
    expect((point.data as { point: { vramMiB: Record<string, number> } }).point.vramMiB).toHaveProperty('gpu:0');
  });

  it('sends alerts as the arbiter raises them', async () => {
    const { arbiter, gpu, port } = await serve();
    const sse = await openSse(port, '/events');
    cleanups.push(() => sse.close());
    await sse.next((e) => e.event === 'hello', 'hello');
    const lease = await arbiter.acquire('BIG', { pid: 6100 });
    cleanups.push(() => lease.release());
    // The holder's process uses 3 GiB more than it declared: the arbiter raises an overuse alert.
    gpu.setDevice(0, {
      processes: [
        { pid: OUTSIDER, usedMiB: 2 * GiB },
        { pid: 6100, usedMiB: 12 * GiB },
      ],
    });
    await sample(gpu);
    const alert = await sse.next((e) => e.event === 'alert', 'an alert');
    expect(alert.data).toMatchObject({ kind: 'overuse' });
    expect((alert.data as { message: string }).message).toContain('BIG');
  });

  it('close() of the arbiter ends the open streams', async () => {
    const { arbiter, port } = await serve();
    const sse = await openSse(port, '/events');
    await sse.next((e) => e.event === 'hello', 'hello');
    await arbiter.close();
    await sse.ended;
    expect((await get(port, '/events')).status).toBe(503);
  });
});

describe('dashboardHandler: token and routes', () => {
  it('refuses the page, the stream and state.json without the token (401), and takes it from the query or a header', async () => {
    const { port } = await serve({ token: TOKEN });
    for (const path of ['/', '/events', '/state.json', `/?token=wrong`, '/events?token=']) {
      const r = await get(port, path);
      expect(r.status, path).toBe(401);
      expect(r.headers['www-authenticate']).toContain('Bearer');
      expect(r.body).not.toContain(TOKEN);
    }
    expect((await get(port, '/', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const page = await get(port, `/?token=${TOKEN}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('<script src="dashboard.js"></script>');
    expect((await get(port, '/state.json', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const state = await get(port, '/state.json', { headers: { 'x-gpu-arbiter-token': TOKEN } });
    expect((JSON.parse(state.body) as { frame: DashboardFrame }).frame.gpus).toHaveLength(1);
    const sse = await openSse(port, `/events?token=${TOKEN}`);
    cleanups.push(() => sse.close());
    expect(sse.status).toBe(200);
    await sse.next((e) => e.event === 'hello', 'hello with the token');
  });

  it('serves its static files without the token, mounted under a prefix too; is read-only', async () => {
    const { port } = await serve({ token: TOKEN });
    for (const [path, type] of [
      ['/dashboard.js', 'text/javascript'],
      ['/gpu/charts.js', 'text/javascript'],
      ['/gpu/dashboard.css', 'text/css'],
    ]) {
      const r = await get(port, path!);
      expect(r.status, path).toBe(200);
      expect(r.headers['content-type']).toContain(type);
      expect(r.body.length).toBeGreaterThan(100);
    }
    expect((await get(port, `/gpu/?token=${TOKEN}`)).body).toContain('<title>gpu-arbiter dashboard</title>');
    expect((await get(port, '/favicon.ico')).status).toBe(404);
    const head = await get(port, `/events?token=${TOKEN}`, { method: 'HEAD' });
    expect([head.status, head.headers['content-type'], head.body]).toEqual([200, 'text/event-stream; charset=utf-8', '']);
    const post = await get(port, `/?token=${TOKEN}`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });

  it('checks its options', async () => {
    const { arbiter } = await serve();
    for (const bad of [{ intervalMs: 5 }, { token: '' }, { historyMs: 'long' }, { colour: 'red' }]) {
      let err: unknown;
      try {
        arbiter.dashboardHandler(bad as never);
      } catch (e) {
        err = e;
      }
      expect(isGpuArbiterError(err, 'E_INVALID_ARGUMENT'), JSON.stringify(bad)).toBe(true);
    }
  });
});

describe('the VRAM bar and wait p95', () => {
  it('adds up to the total; the driver-reserved share moves from outside use to reserved', () => {
    const segments = vramSegments({
      totalMiB: 10_000,
      capacityMiB: 9_000,
      outsideMiB: 1_500,
      driverReservedMiB: 500,
      holders: [
        { mib: 2_000, label: 'a' },
        { mib: 1_000, label: 'b' },
      ],
    });
    expect(segments.map((s) => [s.kind, s.mib])).toEqual([
      ['holder', 2_000],
      ['holder', 1_000],
      ['outside', 1_000],
      ['reserved', 1_500],
      ['free', 4_500],
    ]);
    // NVML only (no ledger): everything used is outside use.
    expect(vramSegments({ totalMiB: 100, capacityMiB: null, outsideMiB: 30, driverReservedMiB: 0, holders: [] }).map((s) => [s.kind, s.mib])).toEqual([
      ['outside', 30],
      ['free', 70],
    ]);
  });

  it('p95 is the nearest rank', () => {
    expect(percentile([], 95)).toBeNull();
    expect(percentile([5], 95)).toBe(5);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => 100 - i),
        95,
      ),
    ).toBe(95);
  });
});
