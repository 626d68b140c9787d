// Learned VRAM (vramMiB 'auto') and the OOM cool-down, over the real monitor and the mock NVML:
// the arbiter sees this process's per-process memory while it holds a lease.
import { describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { GpuArbiterError } from '../src/errors';
import { GiB, MiB, defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { afterSamples } from './helpers/wait';
import type { GpuMonitor } from '../src/gpu/monitor';
import { closeAfterEach } from './helpers/close-after-each';

const mock = useMockMonitor();
const arbiters = closeAfterEach<GpuArbiter>();

const ME = process.pid;
const OUTSIDER = 4242;

/** Sets what NVML shows: this process using `mineMiB` (0: not listed) and an outsider's use. */
function showUse(mineMiB: number, outsiderMiB = 0): void {
  mock.nvml.update((s) => {
    const procs = [];
    if (mineMiB > 0) procs.push({ pid: ME, usedBytes: mineMiB * MiB });
    if (outsiderMiB > 0) procs.push({ pid: OUTSIDER, usedBytes: outsiderMiB * MiB });
    s.devices[0].processes = procs;
    s.devices[0].memoryUsed = (mineMiB + outsiderMiB) * MiB;
  });
}

/** The monitor of the current test's arbiter. */
let monitor: GpuMonitor;

async function arbiterWith(policies: object, extra: object = {}): Promise<GpuArbiter> {
  monitor = await mock.open({ devices: [defaultDevice(0, { memoryTotal: 16 * GiB })] });
  const a = await GpuArbiter.create({ monitor, policies: policies as never, ...extra });
  arbiters.push(a);
  return a;
}

/** Waits until the arbiter has applied a sample in which NVML shows `usedMiB` used on GPU 0. */
function seenUsed(a: GpuArbiter, usedMiB: number): Promise<void> {
  return afterSamples(monitor, () => a.snapshot().devices[0]?.usedMiB === usedMiB, `a sample showing ${usedMiB} MiB used`);
}

/** Holds one lease until the arbiter has applied a sample showing this process using `usedMiB`. */
async function holdUsing(a: GpuArbiter, task: string, usedMiB: number): Promise<number> {
  const lease = await a.acquire(task);
  showUse(usedMiB);
  await seenUsed(a, usedMiB);
  await lease.release();
  showUse(0);
  return lease.vramMiB;
}

describe("vramMiB: 'auto'", () => {
  it('starts from vramDefaultMiB, then admits on the 95th percentile of measured peaks plus 10%', async () => {
    const a = await arbiterWith({ ASR: { priority: 50, vramMiB: 'auto', vramDefaultMiB: 4000 } });
    const asked: number[] = [];
    for (const used of [2000, 2100, 2200, 2300, 2400]) asked.push(await holdUsing(a, 'ASR', used));
    expect(asked).toEqual([4000, 4000, 4000, 4000, 4000]); // fewer than 5 peaks: the default
    expect(a.vramEstimates()).toEqual([{ task: 'ASR', defaultMiB: 4000, estimateMiB: 2640, samples: 5, oomFloorMiB: 0 }]);

    // 12000 MiB used outside: the budget (15564 - 12000 = 3564 MiB) fits the learned 2640, not 4000.
    showUse(0, 12000);
    await afterSamples(monitor, () => a.snapshot().devices[0]?.unaccountedMiB === 12000, 'a sample showing the outsider');
    const lease = await a.acquire('ASR', { maxWaitMs: 500 });
    expect(lease.vramMiB).toBe(2640);
    await lease.release();
  });

  it('attributes nothing when this process holds two leases on the GPU (memory is per process)', async () => {
    const a = await arbiterWith({ ASR: { priority: 50, vramMiB: 'auto', vramDefaultMiB: 1000 } });
    const one = await a.acquire('ASR');
    const two = await a.acquire('ASR');
    showUse(1500);
    await seenUsed(a, 1500); // the arbiter did see the memory, and could not attribute it
    await one.release();
    await two.release();
    expect(a.vramEstimates()[0]).toMatchObject({ samples: 0, estimateMiB: 1000 });
  });

  it('a declared vramMiB is admitted as declared whatever is measured', async () => {
    const a = await arbiterWith({ TTS: { priority: 50, vramMiB: 3000 } });
    for (let i = 0; i < 5; i++) await holdUsing(a, 'TTS', 1000);
    const lease = await a.acquire('TTS');
    expect(lease.vramMiB).toBe(3000);
    await lease.release();
  });
});

describe('release({ oom: true })', () => {
  it('raises the task estimate to 1.5x what the lease held and cools the GPU down', async () => {
    const a = await arbiterWith(
      { OCR: { priority: 50, vramMiB: 'auto', vramDefaultMiB: 2000 }, NMT: { priority: 50, vramMiB: 1000, busyPolicy: 'SKIP', maxWaitMs: 100 } },
      { oomCooldownMs: 600 },
    );
    const cooldowns: Array<{ device: number; until: number; task: string }> = [];
    a.on('cooldown', (e) => cooldowns.push(e));
    const lease = await a.acquire('OCR');
    const t0 = Date.now();
    await lease.release({ oom: true });
    expect(cooldowns).toHaveLength(1);
    expect(cooldowns[0]).toMatchObject({ device: 0, task: 'OCR' });
    expect(a.vramEstimates().find((e) => e.task === 'OCR')).toMatchObject({ estimateMiB: 3000, oomFloorMiB: 3000 });

    // The GPU is free but cooling: a 1 GiB job is not admitted.
    const during = await a.run('NMT', () => 'ran');
    expect(during.status).toBe('skipped');
    expect(a.snapshot().devices[0]!.usable).toBe(false);
    // After the cool-down it is, with no call beyond the request.
    await afterSamples(monitor, () => a.snapshot().devices[0]?.usable === true, 'the GPU to reopen after the cool-down');
    expect(Date.now()).toBeGreaterThanOrEqual(cooldowns[0]!.until);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
    const after = await a.run('NMT', () => 'ran');
    expect(after.status).toBe('ran');
    const next = await a.acquire('OCR');
    expect(next.vramMiB).toBe(3000);
    await next.release();
  });

  it('a waiter queued during the cool-down is granted when it ends', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 1000 } }, { oomCooldownMs: 300 });
    const lease = await a.acquire('JOB');
    await lease.release({ oom: true });
    const t0 = Date.now();
    const waiting = await a.acquire('JOB', { maxWaitMs: 3000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await waiting.release();
  });

  it('oomCooldownMs 0 raises the estimate without a cool-down', async () => {
    const a = await arbiterWith({ JOB: { priority: 50, vramMiB: 'auto', vramDefaultMiB: 1000 } }, { oomCooldownMs: 0 });
    const cooldowns: unknown[] = [];
    a.on('cooldown', (e) => cooldowns.push(e));
    await (await a.acquire('JOB')).release({ oom: true });
    const next = await a.acquire('JOB', { maxWaitMs: 0 });
    expect(next.vramMiB).toBe(1500);
    expect(cooldowns).toEqual([]);
    await next.release();
  });
});

describe('validation', () => {
  function refused(policies: object, extra: object, message: RegExp): Promise<void> {
    return expect(arbiterWith(policies, extra)).rejects.toSatisfy(
      (e: unknown) => e instanceof GpuArbiterError && e.code === 'E_INVALID_ARGUMENT' && message.test(e.message),
    );
  }
  it("refuses 'auto' without a default, a default without 'auto', and a bad cool-down", async () => {
    await refused({ A: { priority: 1, vramMiB: 'auto' } }, {}, /policies\.A\.vramDefaultMiB but received undefined/);
    await refused(
      { A: { priority: 1, vramMiB: 100, vramDefaultMiB: 50 } },
      {},
      /Expected nothing unless vramMiB is 'auto' for options\.policies\.A\.vramDefaultMiB/,
    );
    await refused(
      { A: { priority: 1, vramMiB: 'lots' } },
      {},
      /Expected an integer from 1 to 2147483647 or 'auto' for options\.policies\.A\.vramMiB but received "lots"/,
    );
    await refused({ A: { priority: 1, vramMiB: 100 } }, { oomCooldownMs: -1 }, /for options\.oomCooldownMs but received -1/);
  });
});
