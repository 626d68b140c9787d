'use strict';
// A contention scenario from the field, SIMULATED: a video-subtitle OCR pipeline of 6 stages
//   extract keyframes (CPU) -> detect subtitle area (GPU) -> crop (GPU) -> stitch (CPU)
//   -> OCR (GPU) -> postprocess (CPU)
// with 3 and 5 workflows running at once, each working through N videos one after another, run
// three ways on one 16 GiB GPU:
//   1. one global async-mutex Mutex taken around every stage (CPU ones included),
//   2. an async-mutex Mutex around the GPU stages only,
//   3. gpu-arbiter's GpuArbiter (local backend) on the mock NVML: each GPU stage declares its VRAM
//      (detect 6 GiB, crop 5.5 GiB, OCR 7 GiB); any two fit in 16 GiB * 0.95, no three do, so
//      two GPU jobs share the GPU where they fit.
// Stage times are sleeps drawn from a seeded RNG (GPU 30-80 ms, CPU 10-40 ms), the same inputs
// for every mode; a GPU stage that starts while another GPU stage runs takes --share-slowdown
// (default 25%) longer, a crude model of two jobs sharing the SMs. CPU stages are sleeps too, so
// they never compete for this VM's 2 cores: the figures show the locking structure, not OCR.
//
//   node bench/ocr-pipeline.js [--quick] [--videos N] [--reps R] [--share-slowdown F] [--json file]
// Without --quick or --json it writes bench/results/ocr-pipeline-<date>.md (--json: rows for bench/run.js, bench/lib/rows.js).
require('./lib/require-ts');
// Seeded, so every mode and every run (and both OCR benches) see the same stage times.
const { SEED, WORKFLOWS, STAGES, inputs, sleep, scenarioArgs } = require('./lib/ocr-scenario');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { Mutex } = require('async-mutex');
const { machine, machineHeader } = require('./lib/machine');
const { Rows, summary, percentile, fmtValue } = require('./lib/rows');
const { MockNvml, defaultDevice, GiB } = require('../test/helpers/mock-nvml.ts');
const { GpuArbiter } = require('../dist');

const { quick, videos: VIDEOS, reps: REPS, slowdown: SLOWDOWN } = scenarioArgs();

// Runs every workflow at once; `guard(stage, fn)` wraps one stage the way the mode locks it.
async function runPipeline(videos, guard) {
  let gpuNow = 0;
  let gpuMax = 0;
  const latencies = [];
  const runStage = async (stage, ms) => {
    if (!stage.gpu) return sleep(ms);
    const sharing = gpuNow > 0;
    gpuNow++;
    gpuMax = Math.max(gpuMax, gpuNow);
    try {
      await sleep(sharing ? ms * (1 + SLOWDOWN) : ms);
    } finally {
      gpuNow--;
    }
  };
  const t0 = performance.now();
  await Promise.all(
    videos.map(async (mine) => {
      for (const times of mine) {
        const v0 = performance.now();
        for (let i = 0; i < STAGES.length; i++) await guard(STAGES[i], () => runStage(STAGES[i], times[i]));
        latencies.push(performance.now() - v0);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { throughput: latencies.length / seconds, p95: percentile(latencies, 95), p50: percentile(latencies, 50), gpuMax, seconds };
}

async function modes() {
  const nvml = MockNvml.create({ devices: [defaultDevice(0, { name: 'Mock 16 GiB GPU', memoryTotal: 16 * GiB, memoryUsed: 0, processes: [] })] });
  const restore = nvml.apply();
  const policies = Object.fromEntries(STAGES.filter((s) => s.gpu).map((s) => [s.task, { priority: 50, vramMiB: s.vramMiB }]));
  const arbiter = await GpuArbiter.create({ policies, monitorOptions: { libraryPath: nvml.libraryPath, intervalMs: 100 } });
  const globalMutex = new Mutex();
  const gpuMutex = new Mutex();
  return {
    list: [
      { library: 'one global async-mutex Mutex (every stage)', guard: (_s, fn) => globalMutex.runExclusive(fn) },
      { library: 'async-mutex Mutex on GPU stages only', guard: (s, fn) => (s.gpu ? gpuMutex.runExclusive(fn) : fn()) },
      {
        library: 'gpu-arbiter GpuArbiter (VRAM admission, mock NVML)',
        baseline: true,
        guard: async (s, fn) => {
          if (!s.gpu) return fn();
          const r = await arbiter.run(s.task, () => fn());
          if (r.status !== 'ran') throw new Error(`arbiter did not run ${s.task}: ${r.status}`);
          return r.value;
        },
      },
    ],
    async close() {
      await arbiter.close();
      restore();
      nvml.cleanup();
    },
  };
}

async function main() {
  const loadBefore = os.loadavg()[0];
  const m = await modes();
  const results = []; // { workflows, library, baseline, runs: [...] }
  for (const w of WORKFLOWS) {
    const videos = inputs(w, VIDEOS);
    for (const mode of m.list) results.push({ workflows: w, library: mode.library, baseline: mode.baseline, runs: [] });
    // Reps interleave the modes, so load drift hits all of them alike.
    for (let r = 0; r < REPS; r++) {
      for (const mode of m.list) {
        const res = await runPipeline(videos, mode.guard);
        results.find((x) => x.workflows === w && x.library === mode.library).runs.push(res);
        process.stderr.write(
          `  ${w} workflows x ${VIDEOS} videos, ${mode.library}: ${res.throughput.toFixed(2)} videos/s, p95 ${res.p95.toFixed(0)} ms, at most ${res.gpuMax} GPU job(s) at once\n`,
        );
      }
    }
  }
  await m.close();
  const rows = new Rows();
  for (const r of results) {
    const common = { scope: 'ocr-pipeline', case: `${r.workflows} workflows x ${VIDEOS} videos`, library: r.library, baseline: r.baseline || undefined };
    const gpuMax = Math.max(...r.runs.map((x) => x.gpuMax));
    rows.add({
      ...common,
      metric: 'throughput',
      unit: 'videos/s',
      better: 'higher',
      ...summary(r.runs.map((x) => x.throughput)),
      note: `at most ${gpuMax} GPU job(s) at once`,
    });
    rows.add({ ...common, metric: 'p95 per-video latency', unit: 'ms', better: 'lower', ...summary(r.runs.map((x) => x.p95)) });
  }
  rows.write();
  return { rows: rows.rows, file: rows.file, load: [loadBefore, os.loadavg()[0]] };
}

function report({ rows, load }) {
  const mach = machine();
  const lines = [
    '# OCR pipeline scenario (simulated): one global lock vs a GPU-only lock vs gpu-arbiter',
    '',
    machineHeader(mach),
    `- command: node bench/ocr-pipeline.js${quick ? ' --quick' : ''} (${VIDEOS} videos per workflow, ${REPS} reps, seed ${SEED})`,
    `- 1-minute load average before / after: ${load[0].toFixed(2)} / ${load[1].toFixed(2)}`,
    '- SIMULATED: stage times are sleeps from a seeded RNG (GPU stages 30-80 ms, CPU stages 10-40 ms), the same',
    `  for every mode; a GPU stage that starts while another runs takes ${Math.round(SLOWDOWN * 100)}% longer (two jobs sharing the SMs);`,
    '  CPU stages do not compete for cores. One mock 16 GiB GPU (mock NVML); VRAM declared per GPU stage:',
    `  ${STAGES.filter((s) => s.gpu)
      .map((s) => `${s.name} ${s.vramMiB} MiB`)
      .join(', ')}; admission budget 16384 * 0.95 MiB: any two fit, no three.`,
    '',
    '| workflows | mode | videos/s (median, min-max) | vs gpu-arbiter | p95 per-video latency | vs gpu-arbiter | GPU jobs at once |',
    '|---|---|---:|---:|---:|---:|---|',
  ];
  const by = (c, lib, metric) => rows.find((r) => r.case === c && r.library === lib && r.metric === metric);
  for (const c of [...new Set(rows.map((r) => r.case))]) {
    const base = rows.find((r) => r.case === c && r.baseline);
    const baseP95 = by(c, base.library, 'p95 per-video latency');
    for (const lib of [...new Set(rows.filter((r) => r.case === c).map((r) => r.library))]) {
      const t = by(c, lib, 'throughput');
      const p = by(c, lib, 'p95 per-video latency');
      const sp = (r) => (r.spread ? ` (${fmtValue(r.spread.min, r.unit)} - ${fmtValue(r.spread.max, r.unit)})` : '');
      lines.push(
        `| ${c} | ${lib} | ${fmtValue(t.value, t.unit)}${sp(t)} | ${(t.value / base.value).toFixed(2)}x | ${fmtValue(p.value, 'ms')}${sp(p)} | ${(p.value / baseP95.value).toFixed(2)}x | ${t.note.replace(/^\D*(\d+).*/, '$1')} |`,
      );
    }
  }
  lines.push('');
  lines.push('A global lock serialises the CPU stages too; a GPU-only lock lets CPU work overlap but keeps one GPU job at a');
  lines.push('time; memory-aware admission runs a second GPU job whenever its declared VRAM fits beside the first.');
  lines.push('');
  return { text: lines.join('\n'), date: mach.date };
}

main()
  .then((res) => {
    const { text, date } = report(res);
    process.stdout.write(text);
    if (!quick && !res.file) {
      const out = path.join(__dirname, 'results', `ocr-pipeline-${date}.md`);
      fs.writeFileSync(out, text);
      process.stderr.write(`wrote ${path.relative(process.cwd(), out)}\n`);
    }
    process.exit(0);
  })
  .catch((err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
