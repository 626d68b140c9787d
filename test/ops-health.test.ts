// arbiter.health(): ok / degraded / down from lost GPUs, an unreachable ledger, renewal failures,
// the watchdog and the critical log.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { LocalBackend } from '../src/backends/local/backend';
import type { BackendObserver } from '../src/backends/contract';
import { fakeGpus, GiB, sample } from './helpers/fake-monitor';

/** A local backend that reports reachability like a remote one, driven by the test. */
class ReachableBackend extends LocalBackend {
  available = true;
  observer: BackendObserver | null = null;
  observe(o: BackendObserver): void {
    this.observer = o;
  }
}

afterEach(() => {
  vi.useRealTimers();
});

const statusOf = (a: GpuArbiter, name: string) => a.health().checks.find((c) => c.name === name)?.status;

describe('health()', () => {
  it('ok, then degraded for a lost GPU, down when every GPU is lost, down once closed', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB }, { totalMiB: 16 * GiB });
    const arbiter = await GpuArbiter.create({ monitor: gpu, policies: { T: { priority: 50, vramMiB: 1 * GiB } } });
    expect(arbiter.health()).toMatchObject({ status: 'ok' });
    expect(arbiter.health().checks.map((c) => c.name)).toEqual(['arbiter', 'gpus', 'backend', 'renewals', 'releases', 'watchdog']);
    gpu.setDevice(1, { error: 'NVML_ERROR_GPU_IS_LOST' });
    await sample(gpu);
    expect(arbiter.health().status).toBe('degraded');
    expect(arbiter.health().checks.find((c) => c.name === 'gpus')!.detail).toContain('1 of 2');
    gpu.setDevice(0, { error: 'NVML_ERROR_GPU_IS_LOST' });
    await sample(gpu);
    expect(arbiter.health().status).toBe('down');
    gpu.setDevice(0, { error: null });
    gpu.setDevice(1, { error: null });
    await sample(gpu);
    expect(arbiter.health().status).toBe('ok');
    await arbiter.close();
    expect(arbiter.health().status).toBe('down');
    expect(statusOf(arbiter, 'arbiter')).toBe('down');
  });

  it('down while the ledger is unreachable; renewal failures degrade for recentMs', async () => {
    vi.useFakeTimers();
    const backend = new ReachableBackend();
    const arbiter = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 16 * GiB }), backend, policies: { T: { priority: 50, vramMiB: 1 } } });
    backend.available = false;
    backend.observer!.down(new Error('ECONNREFUSED'));
    expect(statusOf(arbiter, 'backend')).toBe('down');
    expect(arbiter.health().status).toBe('down');
    backend.available = true;
    backend.observer!.up();
    backend.observer!.renewalFailing({} as never);
    expect(arbiter.health()).toMatchObject({ status: 'degraded' });
    expect(statusOf(arbiter, 'renewals')).toBe('degraded');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(arbiter.health().status).toBe('ok');
    expect(arbiter.health({ recentMs: 120_000 }).status).toBe('degraded');
    await arbiter.close();
  });

  it('degraded while a hold is past holdMaxMs (until it is released)', async () => {
    vi.useFakeTimers();
    const arbiter = await GpuArbiter.create({
      monitor: fakeGpus({ totalMiB: 16 * GiB }),
      policies: { T: { priority: 50, vramMiB: 1, holdMaxMs: 100 } },
    });
    const lease = await arbiter.acquire('T');
    await vi.advanceTimersByTimeAsync(100);
    expect(statusOf(arbiter, 'watchdog')).toBe('degraded');
    expect(arbiter.health().checks.find((c) => c.name === 'watchdog')!.detail).toContain(lease.id);
    await lease.release();
    expect(arbiter.health().status).toBe('ok');
    await arbiter.close();
  });

  it('a critical log that loses records degrades', async () => {
    const arbiter = await GpuArbiter.create({
      monitor: fakeGpus({ totalMiB: 16 * GiB }, { totalMiB: 16 * GiB, error: 'NVML_ERROR_GPU_IS_LOST' }),
      criticalLog: '/dev/full',
      policies: { T: { priority: 50, vramMiB: 1 } },
    });
    await arbiter.close(); // flushes: the gpu-lost record is dropped
    const log = arbiter.health().checks.find((c) => c.name === 'critical-log');
    expect(log).toMatchObject({ status: 'degraded', detail: expect.stringContaining('ENOSPC') });
  });

  it('rejects bad options with the field named', async () => {
    const arbiter = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 1024 }), policies: { T: { priority: 50, vramMiB: 1 } } });
    expect(() => arbiter.health({ recentMs: -1 })).toThrow(/options\.recentMs/);
    expect(() => arbiter.health({ recnetMs: 1 } as never)).toThrow(/recnetMs/);
    await arbiter.close();
  });
});
