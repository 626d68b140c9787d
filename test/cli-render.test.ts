import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { renderSnapshot, vramBar } from '../src/cli/render';
import { liveView, runWatch } from '../src/cli/watch';
import { runDemo } from '../src/cli/demo';
import { fakeGpus, GiB, OUTSIDER, flush } from './helpers/fake-monitor';
import { defaultDevice, GiB as GiBytes, MockNvml } from './helpers/mock-nvml';

function capture() {
  let text = '';
  let errText = '';
  return {
    io: { out: { write: (s: string) => (text += s), isTTY: false }, err: { write: (s: string) => (errText += s) } },
    out: () => text,
    err: () => errText,
  };
}

let arbiter: GpuArbiter | undefined;
afterEach(async () => {
  await arbiter?.close();
  arbiter = undefined;
});

describe('renderSnapshot', () => {
  it('draws devices with VRAM bars, holders and waiters from the snapshot', async () => {
    arbiter = await GpuArbiter.create({
      monitor: fakeGpus({ totalMiB: 16 * GiB, name: 'Test GPU', processes: [{ pid: OUTSIDER, usedMiB: 4 * GiB }] }),
      maxFraction: 1,
      policies: { ASR: { priority: 90, vramMiB: 8 * GiB }, TTS: { priority: 70, vramMiB: 8 * GiB, maxWaitMs: 5000 } },
    });
    const lease = await arbiter.acquire('ASR');
    const waiter = arbiter.acquire('TTS');
    const text = renderSnapshot(arbiter.snapshot(), { barWidth: 16 });
    expect(text).toContain('GPU 0 Test GPU');
    expect(text).toContain('[########====....]'); // 8 GiB declared, 4 outside, 4 free of 16
    expect(text).toMatch(/holds {2}ASR +8\.0G/);
    expect(text).toMatch(/waits {2}TTS +8\.0G .* prio 70 +gives up in/);
    expect(text).toMatch(/ASR +90 WAIT +1/);
    await lease.release();
    await (await waiter).release();
  });

  it('vramBar marks a device without memory figures with its reason', () => {
    const bar = vramBar(
      {
        index: 0,
        name: null,
        uuid: null,
        usable: false,
        reason: 'NVML_ERROR_GPU_IS_LOST',
        totalMiB: null,
        usedMiB: null,
        capacityMiB: null,
        declaredMiB: 0,
        unaccountedMiB: 0,
        budgetMiB: null,
        method: null,
        utilizationPercent: null,
        holders: 0,
        waiting: 0,
      },
      30,
    );
    expect(bar).toBe('NVML_ERROR_GPU_IS_LOST        ');
  });

  it('liveView redraws until stopped', async () => {
    arbiter = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 8 * GiB }), policies: { A: { priority: 1, vramMiB: 1 } } });
    const c = capture();
    const stop = liveView(arbiter, { out: c.io.out, intervalMs: 60_000, footer: () => 'footer line' });
    await flush();
    stop();
    expect(c.out()).toContain('GPU 0');
    expect(c.out()).toContain('footer line');
    expect(c.out()).toContain('health ok');
  });

  it('liveView shows what health() finds wrong', async () => {
    const gpu = fakeGpus({ totalMiB: 8 * GiB }, { totalMiB: 8 * GiB, error: 'NVML_ERROR_GPU_IS_LOST' });
    arbiter = await GpuArbiter.create({ monitor: gpu, policies: { A: { priority: 1, vramMiB: 1 } } });
    const c = capture();
    const stop = liveView(arbiter, { out: c.io.out, intervalMs: 60_000 });
    await flush();
    stop();
    expect(c.out()).toMatch(/health degraded: gpus: 1 of 2 GPUs unusable: 1 \(/);
  });
});

describe('gpu-arbiter watch / demo entry points', () => {
  it('watch --help prints usage; a bad --interval is refused with exit code 2', async () => {
    const c = capture();
    expect(await runWatch(['--help'], c.io)).toBe(0);
    expect(c.out()).toContain('Usage: gpu-arbiter watch');
    expect(await runWatch(['--interval', 'soon'], c.io)).toBe(2);
    expect(c.err()).toContain('Expected an integer >= 50 for --interval but received "soon"');
    expect(await runWatch(['--bogus'], c.io)).toBe(2);
  });

  it('watch --once draws the GPUs the monitor sees (mock NVML) and the reason when there are none', async () => {
    const nvml = MockNvml.create({
      devices: [
        defaultDevice(0, {
          memoryTotal: 40 * GiBytes,
          memoryUsed: 10 * GiBytes,
          processes: [{ pid: 4321, usedBytes: 10 * GiBytes }],
        }),
      ],
    });
    const restore = nvml.apply();
    try {
      const c = capture();
      expect(await runWatch(['--once', '--interval', '100'], c.io)).toBe(0);
      expect(c.out()).toMatch(/GPU 0 NVIDIA A100-SXM4-4 \[#*=+\.+ *\] declared 0\.0G outside 10\.0G budget 28\.0G \/ 40\.0G/);
      expect(c.out()).not.toContain('watch'); // the placeholder task is not shown
      nvml.update((s) => {
        s.fail = { nvmlInitWithFlags: 9, nvmlInit_v2: 9, nvmlInit: 9 };
      });
      const d = capture();
      expect(await runWatch(['--once'], d.io)).toBe(0);
      expect(d.out()).toMatch(/no GPU: .*NVML_ERROR_DRIVER_NOT_LOADED/);
    } finally {
      restore();
      nvml.cleanup();
    }
  });

  it('demo runs the simulated pipeline with no GPU and prints a summary per task', async () => {
    const c = capture();
    expect(await runDemo(['--duration', '400', '--rate', '40', '--seed', '7', '--no-live'], c.io)).toBe(0);
    const out = c.out();
    // A clone with cc (this test run built the mock in global setup) runs on the mock NVML.
    expect(out).toContain('gpu-arbiter demo on mock NVML (build/mock-nvml/full/libnvidia-ml.so.1');
    for (const task of ['ASR', 'NMT', 'TTS', 'SEMANTIC_REPAIR']) expect(out).toMatch(new RegExp(`\\| ${task} +\\| \\d+ +\\|`));
    // Every utterance asks for every stage, whatever the timing, and each request ends one way.
    const row = (task: string) => {
      const m = new RegExp(`\\| ${task} +\\| \\d+ +\\| \\w+ +\\| +(\\d+) \\| +(\\d+) \\| +(\\d+) \\| +(\\d+) \\|`).exec(out)!;
      return { requested: Number(m[1]), ran: Number(m[2]), skipped: Number(m[3]), timedOut: Number(m[4]) };
    };
    const asr = row('ASR');
    expect(asr.requested).toBeGreaterThan(0);
    for (const task of ['ASR', 'NMT', 'TTS', 'SEMANTIC_REPAIR']) {
      const r = row(task);
      expect(r.requested).toBe(asr.requested);
      expect(r.ran + r.skipped + r.timedOut).toBe(r.requested);
    }
    expect(row('ASR').skipped).toBe(0); // only the SKIP task skips
    expect(await runDemo(['--duration', '-1'], c.io)).toBe(2);
  });

  it('demo --simulated runs on SimulatedGpu and says so', async () => {
    const c = capture();
    expect(await runDemo(['--duration', '200', '--rate', '50', '--no-live', '--simulated'], c.io)).toBe(0);
    expect(c.out()).toContain('gpu-arbiter demo on simulated GPU (SimulatedGpu, no NVML: --simulated)');
    expect(c.out()).toMatch(/\| SEMANTIC_REPAIR +\| 20 +\| SKIP/);
  });
});
