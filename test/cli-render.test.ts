import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter';
import { renderSnapshot, vramBar } from '../src/cli/render';
import { liveView, runWatch } from '../src/cli/watch';
import { runDemo } from '../src/cli/demo';
import { fakeGpus, GiB, OUTSIDER, flush } from './helpers/fake-monitor';

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
      { index: 0, name: null, uuid: null, usable: false, reason: 'NVML_ERROR_GPU_IS_LOST', totalMiB: null, usedMiB: null, capacityMiB: null, declaredMiB: 0, unaccountedMiB: 0, budgetMiB: null, utilizationPercent: null, holders: 0, waiting: 0 },
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

  it('demo runs the simulated pipeline with no GPU and prints a summary per task', async () => {
    const c = capture();
    expect(await runDemo(['--duration', '400', '--rate', '40', '--seed', '7', '--no-live'], c.io)).toBe(0);
    const out = c.out();
    expect(out).toContain('simulated GPU (no NVML)');
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
});
