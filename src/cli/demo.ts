// `gpu-arbiter demo`: a simulated speech pipeline (ASR -> NMT + SEMANTIC_REPAIR -> TTS) sharing
// one 16 GiB GPU with an outside process whose memory use rises and falls. Shows admission,
// priorities and skips live, then a summary table. Needs no GPU: it runs on the mock NVML
// through the real monitor where it can (a clone with a C compiler), else on a SimulatedGpu,
// and says which (demo-gpu.ts). Each job "allocates" its VRAM in the GPU's process list, so
// admission and overuse checks see what NVML would show.
import { GpuArbiter } from '../arbiter/gpu-arbiter';
import { isGpuArbiterError } from '../errors';
import type { Lease } from '../arbiter/lease';
import type { TaskPolicyInput } from '../policy/task-policy';
import { openDemoGpu } from './demo-gpu';
import { renderSnapshot } from './render';
import { commandFlags, defaultIo, type CliIo } from './args';
import { liveView } from './watch';
import { mulberry32 } from '../util/rng';
import { startDemoDashboard } from './demo-dashboard';

const GiB = 1024;
const OUTSIDER_PID = 9000;

/** The pipeline's policies (exported for tests and docs). */
export const DEMO_POLICIES: Record<string, TaskPolicyInput> = {
  ASR: { priority: 90, vramMiB: 4 * GiB, busyPolicy: 'WAIT', maxWaitMs: 3000 },
  NMT: { priority: 80, vramMiB: 3 * GiB, busyPolicy: 'WAIT', maxWaitMs: 3000 },
  TTS: { priority: 70, vramMiB: 3 * GiB, busyPolicy: 'WAIT', maxWaitMs: 2000, holdMaxMs: 1500 },
  SEMANTIC_REPAIR: { priority: 20, vramMiB: 2 * GiB, busyPolicy: 'SKIP', maxWaitMs: 400 },
};

interface TaskTally {
  requested: number;
  ran: number;
  skipped: number;
  timedOut: number;
  waits: number[];
  holds: number[];
}

const HELP = `Usage: gpu-arbiter demo [--duration MS] [--rate MS] [--seed N] [--no-live] [--simulated]
                       [--dashboard [--port N] [--bind ADDR] [--token T]]

Runs a simulated pipeline (ASR 90 / NMT 80 / TTS 70 / SEMANTIC_REPAIR 20 with SKIP) on one
16 GiB GPU shared with an outside process, shows the arbiter live, then prints a summary.
No GPU is needed: the GPU is the mock NVML (native/mock-nvml, built with cc) read by the
real monitor, or a SimulatedGpu where the mock cannot be built.
  --duration MS   how long new utterances arrive (default 8000)
  --rate MS       mean time between utterances (default 300)
  --seed N        random seed (default 1)
  --no-live       print only the summary
  --simulated     use SimulatedGpu even where the mock NVML could be built
  --dashboard     serve the live web dashboard (http://127.0.0.1:9465/) instead of the terminal
                  view; utterances keep coming until Ctrl-C unless --duration is given
  --port N, --bind ADDR, --token T   where the dashboard listens, and its optional token`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Entry point of `gpu-arbiter demo`; resolves to the exit code. */
export async function runDemo(args: string[], io: CliIo = defaultIo(), onListening?: (port: number) => void): Promise<number> {
  const spec = { boolean: ['no-live', 'simulated', 'dashboard'], string: ['duration', 'rate', 'seed', 'port', 'bind', 'token'] };
  const parsed = commandFlags(args, spec, HELP, io);
  if (typeof parsed === 'number') return parsed;
  const values = parsed as { duration?: string; rate?: string; seed?: string; 'no-live'?: boolean; simulated?: boolean; dashboard?: boolean };
  const num = (name: string, v: string | undefined, dflt: number, min: number): number | null => {
    const n = v === undefined ? dflt : Number(v);
    if (!Number.isInteger(n) || n < min) {
      io.err.write(`Expected an integer >= ${min} for --${name} but received ${JSON.stringify(v)}\n`);
      return null;
    }
    return n;
  };
  const duration = num('duration', values.duration, 8000, 1);
  const rate = num('rate', values.rate, 300, 1);
  const seed = num('seed', values.seed, 1, 0);
  if (duration === null || rate === null || seed === null) return 2;
  const random = mulberry32(seed);

  // The GPU samples every 200 ms, as a monitor would; the demo only changes what it will see.
  const gpu = await openDemoGpu({ totalMiB: 16 * GiB, name: 'Demo GPU 16 GiB', simulated: values.simulated, sampleMs: 200 });
  const running = new Map<number, number>(); // pid -> MiB the simulated job has allocated
  let outsiderMiB = 3 * GiB;
  const publish = (): void => {
    gpu.set({
      processes: [{ pid: OUTSIDER_PID, usedMiB: outsiderMiB }, ...[...running].map(([pid, usedMiB]) => ({ pid, usedMiB }))],
      gpuPercent: Math.min(100, running.size * 30),
    });
  };
  publish();
  const arbiter = await GpuArbiter.create({ monitor: gpu.view, policies: DEMO_POLICIES, maxFraction: 0.95 });

  const tally = new Map<string, TaskTally>(Object.keys(DEMO_POLICIES).map((t) => [t, { requested: 0, ran: 0, skipped: 0, timedOut: 0, waits: [], holds: [] }]));
  const log: string[] = [];
  const note = (line: string): void => {
    log.push(`${(performance.now() / 1000).toFixed(1)}s ${line}`);
    if (log.length > 6) log.shift();
  };
  arbiter.on('skipped', (e: { task: string; reason: string }) => note(`skipped ${e.task} (${e.reason})`));
  arbiter.on('overuse', (e: { lease: { task: string }; usedMiB: number; declaredMiB: number }) =>
    note(`overuse: ${e.lease.task} uses ${e.usedMiB} MiB, declared ${e.declaredMiB}`),
  );
  arbiter.on('watchdog', (e: { lease: { task: string }; heldMs: number }) => note(`watchdog: ${e.lease.task} held ${e.heldMs} ms`));

  let nextPid = 10_000;
  const job = async (task: string, utteranceNo: number): Promise<void> => {
    const t = tally.get(task)!;
    t.requested++;
    const asked = performance.now();
    try {
      const r = await arbiter.run(
        task,
        async (lease: Lease) => {
          t.waits.push(performance.now() - asked);
          const pid = lease.pid;
          // One TTS job in twelve allocates more than it declared: the overuse check catches it.
          const overuse = task === 'TTS' && random() < 1 / 12;
          running.set(pid, overuse ? lease.vramMiB + 1536 : Math.round(lease.vramMiB * (0.7 + 0.3 * random())));
          publish();
          const hold = 150 + random() * 450;
          await sleep(hold);
          running.delete(pid);
          publish(); // NVML still shows it until the next sample: counted as outside use till then
          t.holds.push(hold);
        },
        { pid: nextPid++, label: `utt ${utteranceNo}` },
      );
      if (r.status === 'ran') t.ran++;
      else t.skipped++;
    } catch (err) {
      if (isGpuArbiterError(err, 'E_TIMEOUT')) {
        t.timedOut++;
        note(`timeout ${task}`);
      } else throw err;
    }
  };
  // Each job carries its utterance's number as its label (shown by the dashboard and watch).
  let utterances = 0;
  const utterance = async (): Promise<void> => {
    const n = ++utterances;
    await job('ASR', n);
    await Promise.all([job('NMT', n), job('SEMANTIC_REPAIR', n)]);
    await job('TTS', n);
  };

  // With --dashboard the page is the view, and work keeps coming until Ctrl-C unless --duration is given.
  const dash = values.dashboard ? await startDemoDashboard(arbiter, parsed as Record<string, string>, io, onListening) : null;
  const endless = dash !== null && values.duration === undefined;
  const live =
    values['no-live'] || dash !== null
      ? null
      : liveView(arbiter, { out: io.out, intervalMs: io.out.isTTY === true ? 250 : 1000, footer: () => log.join('\n') });
  const howLong = endless ? 'utterances until Ctrl-C' : `${duration} ms of utterances`;
  io.out.write(`gpu-arbiter demo on ${gpu.description}\n${howLong} every ~${rate} ms, seed ${seed}\n`);
  const sampler = setInterval(publish, 100);
  const started = performance.now();
  // Settled utterances leave the set: with --dashboard the demo can run for hours.
  const inflight = new Set<Promise<void>>();
  let phase = 0;
  while ((endless || performance.now() - started < duration) && dash?.signal.aborted !== true) {
    // Midway an outside process grabs 6 GiB more for a while: admission holds work back (endless: every 20 s).
    const frac = endless ? ((performance.now() - started) % 20_000) / 20_000 : (performance.now() - started) / duration;
    const wantPhase = frac > 0.35 && frac < 0.65 ? 1 : 0;
    if (wantPhase !== phase) {
      phase = wantPhase;
      outsiderMiB = phase === 1 ? 9 * GiB : 3 * GiB;
      note(phase === 1 ? 'outside process grows to 9 GiB' : 'outside process back to 3 GiB');
    }
    const u = utterance().finally(() => inflight.delete(u));
    inflight.add(u);
    await sleep(rate * (0.5 + random()));
  }
  await Promise.all([...inflight]);
  await dash?.done; // serves until Ctrl-C
  clearInterval(sampler);
  live?.();
  const final = renderSnapshot(arbiter.snapshot(), { color: false });
  await arbiter.close();
  await gpu.close();

  const rows = [...tally].map(([task, t]) => {
    const p = DEMO_POLICIES[task]!;
    return [
      task,
      String(p.priority),
      p.busyPolicy ?? 'WAIT',
      String(t.requested),
      String(t.ran),
      String(t.skipped),
      String(t.timedOut),
      pct(t.waits, 50).toFixed(0),
      pct(t.waits, 95).toFixed(0),
      (t.waits.length ? Math.max(...t.waits) : 0).toFixed(0),
    ];
  });
  const head = ['task', 'prio', 'policy', 'requested', 'ran', 'skipped', 'timeout', 'wait p50 ms', 'wait p95 ms', 'wait max ms'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  io.out.write(
    [
      '',
      final,
      '',
      'Summary (waits are from request to grant; skips are SEMANTIC_REPAIR giving way under SKIP):',
      line(head),
      `|${widths.map((w, i) => (i < 3 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
      ...rows.map(line),
      '',
    ].join('\n'),
  );
  return 0;
}
