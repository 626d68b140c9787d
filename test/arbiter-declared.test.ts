// Without NVML (no driver library in the container), admission runs on declared GPU sizes.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { GpuSnapshot } from '../src/gpu/types';
import { GiB, state } from './helpers/fake-monitor';
import { defaultDevice, GiB as GiBytes, MockNvml } from './helpers/mock-nvml';
import { stoppedSnapshot } from '../src/gpu/snapshot-convert';
import { closeAfterEach } from './helpers/close-after-each';

/** What GpuMonitor reports when libnvidia-ml cannot be loaded. */
class NoNvml extends EventEmitter {
  snapshot(): GpuSnapshot {
    return { ...stoppedSnapshot('libnvidia-ml.so.1 not found'), seq: 1, takenAt: Date.now() };
  }
}

const arbiters = closeAfterEach<GpuArbiter>();

describe('declaredDevices', () => {
  it('admits on the declared size when NVML is unavailable, and says so in the snapshot', async () => {
    const a = await GpuArbiter.create({
      monitor: new NoNvml(),
      maxFraction: 1,
      declaredDevices: [{ index: 0, totalMiB: 16 * GiB }],
      policies: { JOB: { priority: 1, vramMiB: 10 * GiB } },
    });
    arbiters.push(a);
    const first = await a.acquire('JOB');
    expect(first.env).toEqual({ CUDA_VISIBLE_DEVICES: '0', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' });
    const second = a.acquire('JOB'); // 10 + 10 > 16: the ledger alone says no
    expect(await state(second)).toBe('pending');
    expect(a.snapshot().devices[0]).toMatchObject({
      method: 'declared',
      usedMiB: null,
      declaredMiB: 10 * GiB,
      budgetMiB: 6 * GiB,
    });
    await first.release();
    await (await second).release();
  });

  it('without declared devices, no NVML means E_NO_DEVICE naming the reason and the option', async () => {
    const a = await GpuArbiter.create({ monitor: new NoNvml(), policies: { JOB: { priority: 1, vramMiB: 1 } } });
    arbiters.push(a);
    await expect(a.acquire('JOB')).rejects.toMatchObject({
      code: 'E_NO_DEVICE',
      message: expect.stringMatching(/libnvidia-ml\.so\.1 not found.*options\.declaredDevices/),
    });
  });

  it('validates each declared device, naming the field', async () => {
    await expect(
      GpuArbiter.create({
        monitor: new NoNvml(),
        declaredDevices: [{ index: 0 } as never],
        policies: { JOB: { priority: 1, vramMiB: 1 } },
      }),
    ).rejects.toThrow('Expected an integer from 1 to 2147483647 for options.declaredDevices[0].totalMiB but received undefined');
  });

  it('a GPU NVML does report uses NVML, not the declaration (mock NVML)', async () => {
    const nvml = MockNvml.create({ devices: [defaultDevice(0, { memoryTotal: 8 * GiBytes })] });
    const restore = nvml.apply();
    try {
      const a = await GpuArbiter.create({
        declaredDevices: [
          { index: 0, totalMiB: 80 * GiB },
          { index: 1, totalMiB: 4 * GiB, uuid: 'GPU-declared' },
        ],
        policies: { JOB: { priority: 1, vramMiB: 1 } },
        monitorOptions: { intervalMs: 50 },
      });
      arbiters.push(a);
      expect(a.snapshot().devices.map((d) => [d.index, d.totalMiB, d.method])).toEqual([
        [0, 8 * GiB, 'processes'],
        [1, 4 * GiB, 'declared'],
      ]);
    } finally {
      restore();
      nvml.cleanup();
    }
  });
});
