// A hung NVML call stalls only the sampler thread: the event loop, timers and reads go on.
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { waitFor } from './helpers/wait';

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
    const callLog = path.join(fixture.nvml.dir, 'calls.log');
    fixture.nvml.update((s) => {
      s.delayMs = { nvmlDeviceGetName: 500 };
      s.callLog = callLog; // the mock logs each call before it sleeps for its delay
    });
    const pending = m.sampleNow().catch((e: unknown) => e);
    // Until the sampler thread is inside the hung call (not a fixed sleep that hopes it is).
    await waitFor(() => fixture.nvml.callLogLines().includes('nvmlDeviceGetName'), 'the sampler to enter nvmlDeviceGetName', 5000, 2);
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
