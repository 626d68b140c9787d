// A hung NVML call stalls only the sampler thread: the event loop, timers and reads go on.
import { describe, expect, it } from 'vitest';
import { defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';

const fixture = useMockMonitor();

describe('NVML hangs', () => {
  it('a 2 s hang in NVML does not delay a 10 ms timer, and reads stay instant', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0)] }, 'full', { intervalMs: 60_000 });
    const before = m.snapshot();
    fixture.nvml.update((s) => {
      s.delayMs = { nvmlDeviceGetMemoryInfo_v2: 2000 };
    });
    const t0 = performance.now();
    const pending = m.sampleNow(); // the sampler thread now sits in NVML for 2 s

    const timerLate = await new Promise<number>((resolve) => {
      const start = performance.now();
      setTimeout(() => resolve(performance.now() - start - 10), 10);
    });
    const readStart = performance.now();
    const during = m.snapshot();
    const readMs = performance.now() - readStart;

    // Generous bounds for a loaded 2-core CI machine; a blocked loop would be ~2000 ms late.
    expect(timerLate).toBeLessThan(200);
    expect(readMs).toBeLessThan(50);
    expect(during.seq).toBe(before.seq); // the old sample, served without waiting

    const after = await pending;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(after.seq).toBeGreaterThan(before.seq);
  });

  it('stop() while NVML hangs resolves once the call returns, and the process keeps working', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0)] }, 'full', { intervalMs: 60_000 });
    fixture.nvml.update((s) => {
      s.delayMs = { nvmlDeviceGetName: 500 };
    });
    const pending = m.sampleNow().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await m.stop();
    expect(performance.now() - t0).toBeLessThan(3000);
    // The pass in flight finishes and answers the sampleNow() it was started for.
    const outcome = await pending;
    expect(outcome).toMatchObject({ available: true });
    // A stopped monitor refuses new samples with a stable code.
    await expect(m.sampleNow()).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});
