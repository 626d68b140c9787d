// Memory `used` means one thing whichever NVML call answered (issue 16, defect 5): v1 counts the
// driver-reserved share in `used`, v2 reports it apart; the monitor reports used = allocated +
// reserved on both, so admission gives the same budget for the same card, and `status` shows
// the reserved share where NVML tells it.
import { describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { formatStatus } from '../src/cli/status';
import { admitDevice } from '../src/policy/admission';
import { addonInfo } from '../src/native/addon';
import { GpuMonitor } from '../src/gpu/monitor';
import type { GpuSnapshot } from '../src/gpu/types';
import { GiB, MiB, MockNvml, defaultDevice } from './helpers/mock-nvml';
// One card: 16 GiB, 6 GiB allocated by a process outside the ledger, 512 MiB kept by the driver.
const card = defaultDevice(0, {
  memoryTotal: 16 * GiB,
  memoryUsed: 6 * GiB,
  memoryReserved: 512 * MiB,
  processes: [{ pid: 4242, usedBytes: 6 * GiB }],
});

const V2_REFUSED = { nvmlDeviceGetMemoryInfo_v2: 25 }; // ARGUMENT_VERSION_MISMATCH: the binding reads v1

/** Runs `fn` on a monitor over the mock card, then stops it and removes the mock. */
async function onCard<T>(fail: Record<string, number>, fn: (m: GpuMonitor) => Promise<T>): Promise<T> {
  const nvml = MockNvml.create({ devices: [card], fail });
  const restore = nvml.apply(); // the mock reads MOCK_NVML_STATE on every call
  const m = await GpuMonitor.create({ libraryPath: nvml.libraryPath, intervalMs: 1000 });
  try {
    return await fn(m);
  } finally {
    await m.stop();
    restore();
    nvml.cleanup();
  }
}
const read = (fail: Record<string, number>) => onCard(fail, async (m): Promise<GpuSnapshot> => m.snapshot());

describe('memory used, v1 and v2 alike', () => {
  it('v2 and v1 report the same used and free for the same card; v2 also the reserved share', async () => {
    const v2 = await read({});
    expect(v2.api.memory).toBe('nvmlDeviceGetMemoryInfo_v2');
    expect(v2.devices[0].memory).toEqual({ totalBytes: 16 * GiB, usedBytes: 6.5 * GiB, freeBytes: 9.5 * GiB, reservedBytes: 512 * MiB });

    const v1 = await read(V2_REFUSED);
    expect(v1.api.memory).toBe('nvmlDeviceGetMemoryInfo');
    expect(v1.devices[0].memory).toEqual({ totalBytes: 16 * GiB, usedBytes: 6.5 * GiB, freeBytes: 9.5 * GiB, reservedBytes: null });

    // Admission: reserved memory is counted as not free (unaccounted by any holder) on both.
    const a2 = admitDevice(v2.devices[0], 0.9, []);
    expect(admitDevice(v1.devices[0], 0.9, [])).toEqual(a2);
    expect(a2.unaccountedMiB).toBe(6 * 1024 + 512);
  });

  it("an arbiter's budget for the card is the same on either call", async () => {
    const budget = (fail: Record<string, number>) =>
      onCard(fail, async (monitor) => {
        const arbiter = await GpuArbiter.create({ monitor, maxFraction: 0.9, policies: { T: { priority: 50, vramMiB: 1024 } } });
        try {
          return arbiter.snapshot().devices[0].budgetMiB;
        } finally {
          await arbiter.close();
        }
      });
    // floor(16384 * 0.9) = 14745, less the 6656 MiB that are not free (6 GiB allocated + 512 MiB reserved).
    expect([await budget({}), await budget(V2_REFUSED)]).toEqual([14745 - 6656, 14745 - 6656]);
  });

  it('status shows the reserved share where NVML reports it', async () => {
    const nvml = await read({});
    const text = formatStatus({ addon: addonInfo(), nvml, host: [] });
    expect(text).toMatch(/VRAM +\[#+\.+\] 6\.5 GiB \/ 16\.0 GiB used \(512 MiB reserved by the driver\), 9\.5 GiB free/);
  });
});
