import { describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { GpuArbiterOptions } from '../src/arbiter/options';
import { fakeGpus, GiB, state } from './helpers/fake-monitor';
import { closeAfterEach } from './helpers/close-after-each';

const arbiters = closeAfterEach<GpuArbiter>();

async function make(options: Partial<GpuArbiterOptions> = {}): Promise<GpuArbiter> {
  const a = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB }),
    policies: { ASR: { priority: 90, vramMiB: 4 * GiB } },
    ...options,
  });
  arbiters.push(a);
  return a;
}

function rejectsWith(options: unknown, message: string | RegExp) {
  return expect(GpuArbiter.create(options as GpuArbiterOptions)).rejects.toMatchObject({
    code: 'E_INVALID_ARGUMENT',
    message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message),
  });
}

describe('GpuArbiter.create validation names the field and the value', () => {
  const monitor = fakeGpus({ totalMiB: 16 * GiB });
  it.each([
    [{ ASR: { priority: 'high', vramMiB: 10 } }, 'Expected an integer from 0 to 1000 for options.policies.ASR.priority but received "high"'],
    [{ ASR: { priority: 1, vramMiB: -5 } }, 'Expected an integer from 1 to 2147483647 for options.policies.ASR.vramMiB but received -5'],
    [{ ASR: { priority: 1, vramMiB: 5, busyPolicy: 'WAIT_FOREVER' } }, 'for options.policies.ASR.busyPolicy but received "WAIT_FOREVER"'],
    [{ ASR: { priority: 1, vramMiB: 5, maxWaitMs: 1.5 } }, 'for options.policies.ASR.maxWaitMs but received 1.5'],
    [{ ASR: { priority: 1, vramMiB: 5, queueLimit: -1 } }, 'for options.policies.ASR.queueLimit but received -1'],
    [{ ASR: { priority: 1, vramMiB: 5, revokeOnHoldMax: true } }, 'for options.policies.ASR.holdMaxMs'],
    [{ ASR: { priority: 1, vramMiB: 5, prio: 3 } }, 'Unknown option options.policies.ASR.prio'],
    [{ ASR: null }, 'Expected an object for options.policies.ASR but received null'],
    [{}, 'Expected at least one task policy for options.policies'],
  ])('policies %j', async (policies, message) => {
    await rejectsWith({ monitor, policies }, message);
  });

  it.each([
    [{ maxFraction: 1.5 }, 'Expected a number in (0, 1] for options.maxFraction but received 1.5'],
    [{ devices: [0, 0] }, 'for options.devices'],
    [{ devices: [-1] }, 'for options.devices[0] but received -1'],
    [{ placement: 'random' }, 'for options.placement but received "random"'],
    [{ backend: 'redis' }, 'for options.redis but received undefined'],
    [{ monitor: {} }, 'for options.monitor'],
    [{ intervalMs: 5 }, 'Unknown option options.intervalMs'],
    [{ agingMs: 0 }, 'Expected an integer from 1 to 2147483647 for options.agingMs but received 0'],
  ])('options %j', async (extra, message) => {
    await rejectsWith({ monitor, policies: { ASR: { priority: 1, vramMiB: 5 } }, ...extra }, message);
  });

  it.each([
    [{ backend: 'host', namespace: '../etc' }, 'for options.namespace but received "../etc"'],
    [{ backend: 'host', namespace: 7 }, 'for options.namespace but received 7'],
    [{ namespace: 'prod' }, "Expected nothing unless options.backend is 'host' or 'redis' for options.namespace"],
    [{ backend: 'host', agingMs: 100 }, "nothing with backend 'host'"],
  ])('host options %j', async (extra, message) => {
    await rejectsWith({ monitor, policies: { ASR: { priority: 1, vramMiB: 5 } }, ...extra }, message);
  });

  it('refuses an unknown task with E_UNKNOWN_TASK and an empty name with E_INVALID_ARGUMENT', async () => {
    const a = await make();
    await expect(a.acquire('NMT')).rejects.toMatchObject({ code: 'E_UNKNOWN_TASK', message: expect.stringContaining('"NMT"') });
    await expect(a.acquire('')).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(a.acquire('ASR', { maxWaitMs: -1 })).rejects.toThrow('for options.maxWaitMs but received -1');
  });

  it('run() refuses a FALLBACK_CPU task without a fallback, naming it', async () => {
    const a = await make({ policies: { REPAIR: { priority: 20, vramMiB: 512, busyPolicy: 'FALLBACK_CPU' } } });
    await expect(a.run('REPAIR', () => 1)).rejects.toThrow(/options\.fallback \(task REPAIR is FALLBACK_CPU\)/);
  });
});

describe('GpuArbiter.configure', () => {
  it('reloads policies without dropping holders or waiters', async () => {
    const a = await make({ policies: { ASR: { priority: 90, vramMiB: 12 * GiB }, TTS: { priority: 70, vramMiB: 4 * GiB } } });
    const held = await a.acquire('ASR');
    const waiter = a.acquire('TTS'); // 12 + 4 > 16 * 0.95 GiB: waits
    expect(await state(waiter)).toBe('pending');

    await a.configure({ policies: { ASR: { priority: 95, vramMiB: 2 * GiB }, NMT: { priority: 80, vramMiB: 1 * GiB } } });

    expect(held.lost.aborted).toBe(false);
    expect(a.snapshot().holders.map((h) => [h.task, h.vramMiB])).toEqual([['ASR', 12 * GiB]]);
    expect(a.snapshot().queues[0]!.waiters.map((w) => w.task)).toEqual(['TTS']);
    await expect(a.acquire('TTS')).rejects.toMatchObject({ code: 'E_UNKNOWN_TASK' });
    const small = await a.acquire('ASR'); // new policy: 2 GiB fits beside the old 12 GiB hold (ahead of TTS: priority 95 > 70)
    expect(small.vramMiB).toBe(2 * GiB);
    await held.release();
    await small.release();
    expect((await waiter).task).toBe('TTS');
  });

  it('the next request of the task asked for last uses its new policy', async () => {
    const a = await make({ policies: { ASR: { priority: 90, vramMiB: 12 * GiB } } });
    const first = await a.acquire('ASR');
    expect(first.vramMiB).toBe(12 * GiB);
    await first.release();
    await a.configure({ policies: { ASR: { priority: 10, vramMiB: 3 * GiB } } });
    const second = await a.acquire('ASR');
    expect([second.vramMiB, second.policy.priority]).toEqual([3 * GiB, 10]);
    await second.release();
    // Counted under the one task either way.
    expect(a.metrics().find((f) => f.name === 'gpu_arbiter_acquire_total')!.samples).toEqual([{ labels: { task: 'ASR', outcome: 'acquired' }, value: 2 }]);
  });

  it('applies a new maxFraction to capacities at once', async () => {
    const a = await make();
    await a.configure({ maxFraction: 0.5 });
    expect(a.snapshot().devices[0]!.capacityMiB).toBe(8 * GiB);
    await expect(a.configure({ maxFraction: 0 })).rejects.toThrow('for config.maxFraction but received 0');
    expect(a.snapshot().maxFraction).toBe(0.5);
  });

  it('refuses to change the backend or the monitor at run time', async () => {
    const a = await make();
    await expect(a.configure({ backend: 'local' } as never)).rejects.toThrow('config.backend cannot change at run time');
  });
});
