// `gpu-arbiter dashboard` on this host (NVML through the mock library, a host ledger written by a
// GpuArbiter with backend 'host') and `gpu-arbiter demo --dashboard`: what the page is sent.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { removeHostNamespace } from '../src/backends/host/namespaces';
import { runDashboardCommand } from '../src/cli/dashboard';
import { runDemo } from '../src/cli/demo';
import type { DashboardFrame, GpuPanel } from '../src/dashboard/types';
import { defaultDevice, GiB, MockNvml } from './helpers/mock-nvml';
import { get, openSse, type SseEvent } from './helpers/sse';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const quiet = (signal: AbortSignal, err: string[] = []) => ({ out: { write: () => true }, err: { write: (s: string) => err.push(s) }, signal });

/** Runs a command that serves until aborted; resolves with its port and the promise of its exit code. */
async function start(run: (onListening: (port: number) => void, signal: AbortSignal) => Promise<number>): Promise<{ port: number; done: Promise<number> }> {
  const stop = new AbortController();
  let port = -1;
  const done = run((p) => (port = p), stop.signal);
  cleanups.push(async () => {
    stop.abort();
    await done.catch(() => undefined);
  });
  while (port < 0) {
    const early = await Promise.race([done.then((code) => `exited with ${code}`), new Promise((r) => setTimeout(r, 10))]);
    if (typeof early === 'string') throw new Error(`the command ${early} before listening`);
  }
  return { port, done };
}

const frameOf = (e: SseEvent): DashboardFrame => (e.data as { frame: DashboardFrame }).frame;

describe('gpu-arbiter dashboard (this host)', () => {
  it("shows NVML's figures with the host ledger's holders and queue, and follows a release", async () => {
    const nvml = MockNvml.create({ devices: [defaultDevice(0, { memoryTotal: 16 * GiB, memoryUsed: GiB, temperature: 61, powerMw: 123_000, processes: [] })] });
    const restore = nvml.apply();
    cleanups.push(() => {
      restore();
      nvml.cleanup();
    });
    const ns = `dash-${randomBytes(4).toString('hex')}`;
    const arbiter = await GpuArbiter.create({ backend: 'host', namespace: ns, policies: { BIG: { priority: 70, vramMiB: 9 * 1024, maxWaitMs: 30_000 } } });
    cleanups.push(async () => {
      await arbiter.close();
      removeHostNamespace(ns);
    });
    const first = await arbiter.acquire('BIG', { label: 'host-job-1' });
    const queued = arbiter.acquire('BIG', { label: 'host-job-2' });
    queued.catch(() => undefined);

    const { port } = await start((onListening, signal) =>
      runDashboardCommand(['--port', '0', '--host-namespace', ns, '--interval', '100', '--token', 'cli-token'], quiet(signal), onListening),
    );
    expect((await get(port, '/state.json')).status).toBe(401);
    const sse = await openSse(port, '/events', { authorization: 'Bearer cli-token' });
    cleanups.push(() => sse.close());
    const panel = (e: SseEvent): GpuPanel | undefined => frameOf(e)?.gpus.find((g) => g.group === `ns ${ns}`);
    const both = await sse.next((e) => (panel(e)?.queue.length ?? 0) === 1, 'the ledger with a holder and a waiter');
    const g = panel(both)!;
    expect(frameOf(both).source).toBe('host');
    expect(g.id).toMatch(new RegExp(`^${ns}/gpu:GPU-`));
    expect([g.totalMiB, g.temperatureC, g.powerW]).toEqual([16 * 1024, 61, 123]);
    expect(g.holders.map((h) => [h.label, h.task, h.vramMiB])).toEqual([['host-job-1', 'BIG', 9 * 1024]]);
    expect(g.queue.map((w) => [w.position, w.label, w.task, w.priority])).toEqual([[0, 'host-job-2', 'BIG', 70]]);
    expect(g.segments[0]).toMatchObject({ kind: 'holder', mib: 9 * 1024 });

    await first.release();
    const second = await queued;
    await sse.next((e) => panel(e)?.holders[0]?.label === 'host-job-2' && panel(e)?.queue.length === 0, 'host-job-2 granted');
    // The ledger counts its grants: the chart sees this one.
    await sse.next((e) => ((e.data as { point?: { grantsPerSec: number } | null }).point?.grantsPerSec ?? 0) > 0, 'grants/s above 0');
    await second.release();
  });

  it('refuses a malformed --host-namespace and a bad --port with E_INVALID_ARGUMENT (the CLI exits 2 on it)', async () => {
    const io = quiet(new AbortController().signal);
    await expect(runDashboardCommand(['--host-namespace', 'a/b'], io)).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(runDashboardCommand(['--port', '70000'], io)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('--port'),
    });
    // A port already taken: the same error, naming the address, not a stack trace.
    const taken = http.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => taken.close(() => r())));
    const port = (taken.address() as AddressInfo).port;
    await expect(runDashboardCommand(['--port', String(port), '--host-namespace', 'none-such'], io)).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining(`Cannot listen on 127.0.0.1:${port}`),
    });
  });
});

describe('gpu-arbiter demo --dashboard', () => {
  it('serves the demo arbiter: jobs with utterance labels, temperature and power from the mock NVML', async () => {
    const { port } = await start((onListening, signal) => runDemo(['--dashboard', '--port', '0', '--rate', '100', '--seed', '3'], quiet(signal), onListening));
    const sse = await openSse(port, '/events');
    cleanups.push(() => sse.close());
    const busy = await sse.next((e) => e.event === 'frame' && (frameOf(e).gpus[0]?.holders.length ?? 0) > 0, 'a frame with a holder');
    const g = frameOf(busy).gpus[0]!;
    expect(frameOf(busy).title).toContain('demo');
    expect(g.holders[0]!.label).toMatch(/^utt \d+$/);
    expect(['ASR', 'NMT', 'TTS', 'SEMANTIC_REPAIR']).toContain(g.holders[0]!.task);
    // With a C compiler the demo runs on the mock NVML, which reports temperature and power
    // (src/cli/demo-gpu.ts); without one, on SimulatedGpu, which reports neither.
    const cc = spawnSync('cc', ['--version']).error === undefined;
    expect(g.powerLimitW).toBe(cc ? 300 : null);
    expect(g.temperatureC === null).toBe(!cc);
  });
});
