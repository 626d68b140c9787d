// GpuArbiter with backend 'host' across real processes (test/fixtures/host/arbiter-child.cjs,
// each with its own NVML monitor over the same mock state file): issue 6's must-hold points.
// NVML never shows the arbiters' own allocations unless a test says so: admission between the
// processes comes from the shared ledger alone.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { inspectHostNamespace } from '../src/backends/host/namespaces';
import { formatHostLedgers, readHostLedgers } from '../src/backends/host/status';
import type { HostLedgerStatus } from '../src/backends/host/view';
import { HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';
import { defaultDevice, GiB, MockNvml } from './helpers/mock-nvml';
import { waitFor, waitForAsync } from './helpers/wait';
import type { ArbiterSnapshot } from '../src/arbiter/snapshot';

const OUTSIDER = 777;
const policies = {
  BIG: { priority: 50, vramMiB: 8 * 1024, maxWaitMs: 10_000 },
  MID: { priority: 50, vramMiB: 5 * 1024 },
  FOUR: { priority: 50, vramMiB: 4 * 1024, maxWaitMs: 10_000 },
  TWO: { priority: 50, vramMiB: 2 * 1024 },
  SKIPPY: { priority: 10, vramMiB: 8 * 1024, busyPolicy: 'SKIP', maxWaitMs: 100 },
  LOW: { priority: 10, vramMiB: 4 * 1024, maxWaitMs: 10_000 },
  HIGH: { priority: 90, vramMiB: 4 * 1024, maxWaitMs: 10_000 },
  STOPPY: { priority: 50, vramMiB: 4 * 1024, holdMaxMs: 200, revokeOnHoldMax: true, revokeGraceMs: 100 },
};
const UUID = defaultDevice(0).uuid!;

interface Reply {
  ok: boolean;
  code?: string;
  error?: string;
  fence?: number;
  at?: number;
  status?: string;
  reason?: string;
  env?: { CUDA_VISIBLE_DEVICES: string };
  device?: { index: number };
  snapshot?: ArbiterSnapshot;
}

let nvml: MockNvml;
let restoreEnv: () => void;
let ns: string;
const children: HostChild[] = [];
const arbiters: GpuArbiter[] = [];

beforeEach(() => {
  // 16 GiB, 10 GiB used by a process that holds no lease.
  nvml = MockNvml.create({
    devices: [defaultDevice(0, { memoryTotal: 16 * GiB, memoryUsed: 10 * GiB, processes: [{ pid: OUTSIDER, usedBytes: 10 * GiB }] })],
  });
  restoreEnv = nvml.apply(); // children inherit it
  ns = uniqueNamespace('arb');
});

afterEach(async () => {
  await Promise.all(arbiters.splice(0).map((a) => a.close()));
  for (const c of children.splice(0)) {
    c.kill();
    await c.exited;
  }
  restoreEnv();
  nvml.cleanup();
  removeTestNamespaces();
});

async function child(maxFraction?: number): Promise<HostChild & { cmd(c: Record<string, unknown>): Promise<Reply> }> {
  const c = new HostChild('arbiter-child.cjs') as HostChild & { cmd(c: Record<string, unknown>): Promise<Reply> };
  children.push(c);
  c.cmd = (m) => c.send(m) as Promise<Reply>;
  await c.ready;
  const r = await c.cmd({ cmd: 'create', ns, policies, maxFraction });
  if (!r.ok) throw new Error(`child create failed: ${r.error}`);
  return c;
}

const ledger = (): HostLedgerStatus => inspectHostNamespace(ns);

type Child = Awaited<ReturnType<typeof child>>;
const snapshotOf = async (c: Child): Promise<ArbiterSnapshot> => (await c.cmd({ cmd: 'snapshot' })).snapshot!;

/**
 * Resolves once the child's monitor has taken `n` more samples (snapshot().gpu.seq), so its
 * arbiter has applied at least n - 1 of them: for "samples went by and still ..." checks.
 */
async function samplesGoBy(c: Child, n: number): Promise<void> {
  const from = (await snapshotOf(c)).gpu.seq;
  await waitForAsync(async () => (await snapshotOf(c)).gpu.seq >= from + n, `${n} samples in child ${c.pid}`);
}

const resource = `gpu:${UUID}`;

describe("GpuArbiter backend 'host' across processes", () => {
  it('16 GiB GPU, 10 GiB used outside: 8 GiB refused (E_TIMEOUT, or skipped under SKIP), 5 GiB admitted', async () => {
    const a = await child();
    expect(await a.cmd({ cmd: 'acquire', task: 'BIG', key: 'b', maxWaitMs: 0 })).toMatchObject({ ok: false, code: 'E_TIMEOUT' });
    expect(await a.cmd({ cmd: 'run', task: 'SKIPPY' })).toMatchObject({ ok: true, status: 'skipped', reason: 'E_TIMEOUT' });
    const mid = await a.cmd({ cmd: 'acquire', task: 'MID', key: 'm', maxWaitMs: 0 });
    expect(mid).toMatchObject({ ok: true, env: { CUDA_VISIBLE_DEVICES: UUID }, device: { index: 0 } });
    // The ledger is named by GPU UUID, capacity = floor(16384 * 0.95), external = the outsider.
    const r = ledger().resources.find((x) => x.name === resource)!;
    expect(r).toMatchObject({ capacity: 15564, external: 10240, used: 5120 });
    expect(ledger().holders[0]!.label).toBe(`${a.pid} L3 MID`);
  });

  it('two processes ask 4 GiB each with 6 GiB free: exactly one is admitted until the other releases', async () => {
    const [a, b] = await Promise.all([child(1), child(1)]); // maxFraction 1: 16 - 10 = 6 GiB budget
    const ra = a.cmd({ cmd: 'acquire', task: 'FOUR', key: 'x' });
    const rb = b.cmd({ cmd: 'acquire', task: 'FOUR', key: 'x' });
    await waitUntil(() => ledger().holders.length === 1 && ledger().waiters.length === 1, 5000, 'one holder, one waiter');
    const first = ledger().holders[0]!.pid === a.pid ? a : b;
    const second = first === a ? b : a;
    // Several NVML samples go by (50 ms apart) that show neither allocation: still one holder.
    await Promise.all([samplesGoBy(a, 4), samplesGoBy(b, 4)]);
    const st = ledger();
    expect(st.holders.map((h) => h.pid)).toEqual([first.pid]);
    expect(st.waiters.map((w) => [w.pid, w.label])).toEqual([[second.pid, `${second.pid} L1 FOUR`]]);
    expect(st.resources[0]).toMatchObject({ capacity: 16384, external: 10240, used: 4096 });
    const got = await (first === a ? ra : rb);
    expect(got.ok).toBe(true);
    const released = await first.cmd({ cmd: 'release', key: 'x' });
    const next = await (first === a ? rb : ra);
    expect(next).toMatchObject({ ok: true });
    expect(next.fence!).toBeGreaterThan(got.fence!);
    expect(next.at!).toBeGreaterThanOrEqual(released.at! - 5);
  });

  it("a holder's own VRAM, once NVML shows it, is not counted twice by another process", async () => {
    const a = await child(1);
    const held = await a.cmd({ cmd: 'acquire', task: 'FOUR', key: 'x' });
    expect(held.ok).toBe(true);
    // The holder allocates its 4 GiB: NVML now shows 14 GiB used, 4 of them by the holder's pid.
    nvml.update((s) => {
      s.devices[0]!.memoryUsed = 14 * GiB;
      s.devices[0]!.processes = [
        { pid: OUTSIDER, usedBytes: 10 * GiB },
        { pid: a.pid, usedBytes: 4 * GiB },
      ];
    });
    // This process (another arbiter on the same ledger) learns the holder's pid from the ledger
    // label: unaccounted stays 10 GiB, so 2 GiB still fit (16 - 10 - 4).
    const me = await GpuArbiter.create({
      backend: 'host',
      namespace: ns,
      policies,
      maxFraction: 1,
      monitorOptions: { intervalMs: 50, libraryPath: nvml.libraryPath },
    });
    arbiters.push(me);
    // Both monitors have seen the new state, and both arbiters applied it.
    await waitFor(() => me.snapshot().devices[0]?.usedMiB === 14336, 'this arbiter to apply a sample showing 14 GiB used');
    await waitForAsync(async () => (await snapshotOf(a)).devices[0]?.usedMiB === 14336, 'the child to apply a sample showing 14 GiB used');
    expect(ledger().resources[0]).toMatchObject({ external: 10240, used: 4096 });
    // This arbiter's own figure from the new sample (not just the last writer's).
    expect(me.snapshot().devices[0]).toMatchObject({ usedMiB: 14336, declaredMiB: 4096, unaccountedMiB: 10240, method: 'processes' });
    const two = await me.acquire('TWO', { maxWaitMs: 0 });
    expect(me.snapshot().holders.map((h) => [h.task, h.pid, h.own, h.device])).toEqual(
      expect.arrayContaining([
        ['FOUR', a.pid, false, 0],
        ['TWO', process.pid, true, 0],
      ]),
    );
    await two.release();
  });

  it('a holder process SIGKILLed: the waiting process is admitted, no human step', async () => {
    const [a, b] = await Promise.all([child(1), child(1)]);
    expect((await a.cmd({ cmd: 'acquire', task: 'FOUR', key: 'x' })).ok).toBe(true);
    const waiting = b.cmd({ cmd: 'acquire', task: 'FOUR', key: 'x' });
    await waitUntil(() => ledger().waiters.length === 1, 5000, 'b queued');
    const killedAt = Date.now();
    a.kill('SIGKILL');
    const r = await waiting;
    expect(r.ok).toBe(true);
    expect(r.at! - killedAt).toBeLessThan(2000);
    expect(ledger().holders.map((h) => h.pid)).toEqual([b.pid]);
  });

  it("a job's label travels with its hold: another process's snapshot() and gpu-arbiter status show it", async () => {
    const a = await child();
    expect(await a.cmd({ cmd: 'acquire', task: 'MID', key: 'm', label: 'job=video-42 stage=ocr' })).toMatchObject({ ok: true });
    const { fakeGpus } = await import('./helpers/fake-monitor');
    const b = await GpuArbiter.create({ backend: 'host', namespace: ns, monitor: fakeGpus({ totalMiB: 16 * GiB, uuid: UUID }), policies });
    arbiters.push(b);
    expect(b.snapshot().holders).toMatchObject([{ task: 'MID', pid: a.pid, own: false, label: 'job=video-42 stage=ocr' }]);
    const text = formatHostLedgers(await readHostLedgers([ns]));
    expect(text).toContain(`task MID, lease L1, job=video-42 stage=ocr`);
  });

  it('revokeOnHoldMax: a holder stopped with SIGSTOP loses its hold past holdMaxMs + grace, taken by the other processes', async () => {
    const [a, b] = await Promise.all([child(1), child(1)]); // 6 GiB budget: 4 + 4 does not fit
    expect(await a.cmd({ cmd: 'acquire', task: 'STOPPY', key: 's' })).toMatchObject({ ok: true });
    a.proc.kill('SIGSTOP'); // its own watchdog cannot run
    try {
      const got = await b.cmd({ cmd: 'acquire', task: 'FOUR', key: 'f' });
      expect(got).toMatchObject({ ok: true });
      expect(ledger().holders.map((h) => h.pid)).toEqual([b.pid]);
    } finally {
      a.proc.kill('SIGCONT');
    }
    await waitForAsync(async () => !(await snapshotOf(a)).holders.some((h) => h.own), 'the stopped holder to hear of it');
  });

  it('priority across processes: a later high-priority waiter is served before an earlier low one', async () => {
    const [holder, low, high] = await Promise.all([child(1), child(1), child(1)]);
    expect((await holder.cmd({ cmd: 'acquire', task: 'FOUR', key: 'x' })).ok).toBe(true);
    const rl = low.cmd({ cmd: 'acquire', task: 'LOW', key: 'x' });
    await waitUntil(() => ledger().waiters.length === 1, 5000, 'low queued');
    const rh = high.cmd({ cmd: 'acquire', task: 'HIGH', key: 'x' });
    await waitUntil(() => ledger().waiters.length === 2, 5000, 'high queued');
    expect(ledger().waiters.map((w) => [w.position, w.pid, w.priority])).toEqual([
      [0, high.pid, 90],
      [1, low.pid, 10],
    ]);
    await holder.cmd({ cmd: 'release', key: 'x' });
    const h = await rh;
    expect(h.ok).toBe(true);
    expect(ledger().waiters.map((w) => w.pid)).toEqual([low.pid]);
    await high.cmd({ cmd: 'release', key: 'x' });
    const l = await rl;
    expect(l.fence!).toBeGreaterThan(h.fence!);
  });
});

describe("GpuArbiter backend 'host': arbiters sharing a namespace", () => {
  it('one arbiter taking a GPU out of its devices does not close it for the others', async () => {
    const { fakeGpus } = await import('./helpers/fake-monitor');
    const two = [{ totalMiB: 16384 }, { totalMiB: 16384 }];
    const mk = (devices?: number[]) =>
      GpuArbiter.create({ backend: 'host', namespace: ns, monitor: fakeGpus(...two), policies, ...(devices ? { devices } : {}) });
    const a = await mk();
    const b = await mk();
    arbiters.push(a, b);
    await a.configure({ devices: [0] });
    const st = ledger();
    expect(st.resources.map((r) => [r.name, r.closed])).toEqual([
      ['gpu:GPU-00000000-0000-0000-0000-000000000000', false],
      ['gpu:GPU-00000000-0000-0000-0000-000000000001', false],
    ]);
    // b still places on both GPUs; a only on GPU 0.
    const l1 = await b.acquire('BIG', { maxWaitMs: 0 });
    const l2 = await b.acquire('BIG', { maxWaitMs: 0 });
    expect([l1.device.index, l2.device.index].sort()).toEqual([0, 1]);
    expect(a.snapshot().devices.map((d) => d.index)).toEqual([0]);
    await l1.release();
    await l2.release();
  });
});

describe("GpuArbiter backend 'host': ownership of the backend", () => {
  it('close() closes the HostBackend it made: holds are given back host-wide and lease.lost aborts', async () => {
    const { fakeGpus } = await import('./helpers/fake-monitor');
    const a = await GpuArbiter.create({ backend: 'host', namespace: ns, monitor: fakeGpus({ totalMiB: 16384 }), policies });
    expect(a.backendKind).toBe('host');
    const lease = await a.acquire('BIG');
    expect(ledger().holders).toHaveLength(1);
    await a.close();
    expect(ledger().holders).toHaveLength(0);
    expect(ledger().processes).toHaveLength(0);
    expect(lease.lost.aborted).toBe(true);
    expect(lease.lost.reason).toMatchObject({ code: 'E_LEASE_LOST', details: { reason: 'backend-closed' } });
  });
});
