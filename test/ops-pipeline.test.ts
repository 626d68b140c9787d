// arbiter.pipeline(): per-session ordered delivery under random stage times, each stage under its
// task's policy, skipped stages passing their input through.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { PipelineResult } from '../src/pipeline/pipeline';
import { fakeGpus, GiB } from './helpers/fake-monitor';
import { mulberry32 } from '../src/util/rng';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let arbiter: GpuArbiter;
beforeEach(async () => {
  vi.useFakeTimers();
  arbiter = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB }),
    maxFraction: 1,
    policies: {
      ASR: { priority: 90, vramMiB: 6 * GiB },
      NMT: { priority: 70, vramMiB: 4 * GiB },
      TTS: { priority: 50, vramMiB: 3 * GiB },
      OPT: { priority: 10, vramMiB: 16 * GiB, busyPolicy: 'SKIP', maxWaitMs: 1 },
    },
  });
});
afterEach(async () => {
  await arbiter.close();
  vi.useRealTimers();
});

describe('pipeline', () => {
  it('delivers each session in sequence order under random stage times; skipped stages pass input through', async () => {
    const rand = mulberry32(42);
    const finished: string[] = []; // completion order of the last stage
    let gpuHolders = 0;
    let maxVram = 0;
    const stage = (name: string, task: string, mib: number, f: (x: string) => string) => ({
      name,
      task,
      run: async (x: string, ctx: { session: string; seq: number; lease?: unknown }) => {
        expect(ctx.lease).toBeDefined();
        gpuHolders += mib;
        maxVram = Math.max(maxVram, gpuHolders);
        await sleep(1 + Math.floor(rand() * 50));
        gpuHolders -= mib;
        if (name === 'tts') finished.push(`${ctx.session}#${ctx.seq}`);
        return f(x);
      },
    });
    // NMT is skipped for every third item: its input passes through unchanged.
    const p2 = arbiter.pipeline<string, string>([
      stage('asr', 'ASR', 6, (x) => `asr(${x})`),
      { ...stage('nmt', 'NMT', 4, (x) => `nmt(${x})`), skip: (_x: string, ctx: { seq: number }) => ctx.seq % 3 === 0 },
      stage('tts', 'TTS', 3, (x) => `tts(${x})`),
    ]);
    const delivered = new Map<string, number[]>();
    p2.on('result', (r: PipelineResult<string>) => {
      const list = delivered.get(r.session) ?? [];
      list.push(r.seq);
      delivered.set(r.session, list);
    });
    const sessions = ['s1', 's2', 's3', 's4'];
    const all: Array<Promise<PipelineResult<string>>> = [];
    for (let i = 0; i < 15; i++) for (const s of sessions) all.push(p2.submit(s, `${s}:${i}`));
    const drained = p2.drain();
    await vi.advanceTimersByTimeAsync(60_000);
    await drained;
    const results = await Promise.all(all);
    for (const s of sessions) expect(delivered.get(s)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    for (const r of results) {
      const input = `${r.session}:${r.seq}`;
      expect(r.error).toBeUndefined();
      if (r.seq % 3 === 0) {
        expect(r.output).toBe(`tts(asr(${input}))`);
        expect(r.stages.map((x) => x.status)).toEqual(['ran', 'skipped', 'ran']);
      } else expect(r.output).toBe(`tts(nmt(asr(${input})))`);
    }
    // The stages did finish out of order (else this test proves nothing), within the GPU's 16 GiB.
    const s1Finish = finished.filter((f) => f.startsWith('s1#')).map((f) => Number(f.split('#')[1]));
    expect(s1Finish).not.toEqual([...s1Finish].sort((a, b) => a - b));
    expect(maxVram).toBeLessThanOrEqual(16);
  });

  it('a SKIP task that cannot get the GPU passes input through; a throwing stage delivers an error in order', async () => {
    const p = arbiter.pipeline<number, number>([
      { name: 'double', task: 'ASR', run: (x: number) => x * 2 },
      { name: 'opt', task: 'OPT', run: (x: number) => x + 1000 },
      {
        name: 'check',
        run: (x: number) => {
          if (x === 4) throw new Error('bad item');
          return x;
        },
      },
    ]);
    const hog = await arbiter.acquire('ASR'); // OPT needs all 16 GiB: it times out (SKIP)
    const got: Array<PipelineResult<number>> = [];
    p.on('result', (r: PipelineResult<number>) => got.push(r));
    const done = Promise.all([1, 2, 3].map((x) => p.submit('s', x)));
    await vi.advanceTimersByTimeAsync(100);
    await done;
    await hog.release();
    expect(got.map((r) => [r.seq, r.output ?? null, (r.error as Error | undefined)?.message ?? null])).toEqual([
      [0, 2, null],
      [1, null, 'bad item'],
      [2, 6, null],
    ]);
    expect(got[0]!.stages).toEqual([
      { stage: 'double', status: 'ran' },
      { stage: 'opt', status: 'skipped', reason: 'E_TIMEOUT' },
      { stage: 'check', status: 'ran' },
    ]);
    await p.drain('s');
    p.endSession('s');
    expect((await p.submit('s', 5)).seq).toBe(0);
  });

  it('refuses bad stages with the field named', () => {
    expect(() => arbiter.pipeline([])).toThrow(/stages/);
    expect(() => arbiter.pipeline([{ name: 'a', run: 1 as never }])).toThrow(/stages\[0\]\.run/);
    expect(() => arbiter.pipeline([{ name: 'a', task: 'NOPE', run: () => 1 }])).toThrow(/stages\[0\]\.task/);
    expect(() =>
      arbiter.pipeline([
        { name: 'a', run: () => 1 },
        { name: 'a', run: () => 1 },
      ]),
    ).toThrow(/stages\[1\]\.name/);
    expect(() => arbiter.pipeline([{ name: 'a', run: () => 1, extra: 1 } as never])).toThrow(/extra/);
    const p = arbiter.pipeline([{ name: 'a', run: () => 1 }]);
    expect(() => p.submit('', 1)).toThrow(/session/);
  });
});
