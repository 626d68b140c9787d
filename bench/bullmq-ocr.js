'use strict';
// The OCR scenario of bench/ocr-pipeline.js (SIMULATED: same stages, stage times, seed and VRAM
// per GPU stage) run through BullMQ (issue 18, part 3): each GPU stage of each video is a job of
// one BullMQ queue, added by its workflow, which waits for it to finish (QueueEvents) before the
// next stage; CPU stages are sleeps in the workflow. Three ways of running the GPU jobs, in one
// run (modes interleaved per rep), against a real redis-server on loopback:
//   1. a BullMQ Worker with a fixed concurrency of 1,
//   2. a BullMQ Worker with a fixed concurrency of 2,
//   3. gpu-arbiter's GpuWorker (gpu-arbiter/bullmq) over a GpuArbiter (backend 'local', a simulated
//      16 GiB GPU, maxFraction 0.95): each job leased for its stage's VRAM before it is taken,
//      concurrency 4 (the VRAM decides how many run).
// A GPU job that starts while another runs takes --share-slowdown (25%) longer, as in
// ocr-pipeline.js. Each mode also counts over-commits: a job started while the VRAM of the jobs
// running would pass the budget (a real GPU would run out of memory there).
//   node bench/bullmq-ocr.js [--quick] [--videos N] [--reps R] [--out file.md]
require('./lib/require-ts');
// Seeded, so every mode and every run (and both OCR benches) see the same stage times.
const { SEED, WORKFLOWS, STAGES, inputs, sleep, scenarioArgs } = require('./lib/ocr-scenario');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { Queue, QueueEvents, Worker } = require('bullmq');
const { machineHeader } = require('./lib/machine');
const { percentile } = require('./lib/rows');
const { RedisServer } = require('../test/helpers/redis-server.ts');
const { GpuArbiter, SimulatedGpu } = require('../dist');
const { GpuWorker } = require('../dist/bullmq');

const { args, arg, quick, videos: VIDEOS, reps: REPS, slowdown: SLOWDOWN } = scenarioArgs();
const out = arg('--out', quick ? null : path.join(__dirname, 'results', `bullmq-ocr-${new Date().toISOString().slice(0, 10)}.md`));
const BUDGET_MIB = Math.floor(16384 * 0.95);

/** The GPU as the jobs see it: how many run, their VRAM, over-commits. */
function gpuModel() {
  const g = { now: 0, max: 0, mib: 0, overcommits: 0 };
  g.run = async (ms, mib) => {
    const sharing = g.now > 0;
    g.now++;
    g.mib += mib;
    g.max = Math.max(g.max, g.now);
    if (g.mib > BUDGET_MIB) g.overcommits++;
    try {
      await sleep(sharing ? ms * (1 + SLOWDOWN) : ms);
    } finally {
      g.now--;
      g.mib -= mib;
    }
  };
  return g;
}

let seq = 0;

/** One run of every workflow at once through one way of running the GPU jobs. */
async function runOnce(connection, videos, mode) {
  const name = `ocr-${process.pid}-${++seq}`;
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  const gpu = gpuModel();
  const processor = (job) => gpu.run(job.data.ms, job.data.mib);
  const stop = await mode.start(name, processor);
  const latencies = [];
  const t0 = performance.now();
  await Promise.all(
    videos.map(async (mine) => {
      for (const times of mine) {
        const v0 = performance.now();
        for (let i = 0; i < STAGES.length; i++) {
          const s = STAGES[i];
          if (!s.gpu) {
            await sleep(times[i]);
            continue;
          }
          const job = await queue.add(s.name, { ms: times[i], mib: s.vramMiB }, { removeOnComplete: true });
          await job.waitUntilFinished(events, 60_000);
        }
        latencies.push(performance.now() - v0);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await stop();
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return { throughput: latencies.length / seconds, p95: percentile(latencies, 95), gpuMax: gpu.max, overcommits: gpu.overcommits };
}

function modes(connection, arbiter) {
  const plain = (concurrency) => ({
    label: `BullMQ Worker, fixed concurrency ${concurrency}`,
    start: async (name, processor) => {
      const w = new Worker(name, processor, { connection, concurrency });
      await w.waitUntilReady();
      return () => w.close();
    },
  });
  return [
    plain(1),
    plain(2),
    {
      label: 'gpu-arbiter GpuWorker (VRAM admission, concurrency 4)',
      baseline: true,
      start: async (name, processor) => {
        const w = new GpuWorker(arbiter, name, processor, { connection, task: 'GPU', vramFor: (job) => job.data.mib, concurrency: 4, idlePollMs: 5 });
        return () => w.close();
      },
    },
  ];
}

async function main() {
  const loadBefore = os.loadavg()[0];
  const redis = await RedisServer.start();
  const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  const arbiter = await GpuArbiter.create({
    monitor: new SimulatedGpu([{ totalMiB: 16384 }]),
    maxFraction: 0.95,
    policies: { GPU: { priority: 50, vramMiB: 1024 } },
  });
  const list = modes(connection, arbiter);
  const results = [];
  try {
    for (const w of WORKFLOWS) {
      const videos = inputs(w, VIDEOS);
      for (const m of list) results.push({ workflows: w, mode: m, runs: [] });
      for (let r = 0; r < REPS; r++) {
        for (const m of list) {
          const res = await runOnce(connection, videos, m);
          results.find((x) => x.workflows === w && x.mode === m).runs.push(res);
          process.stderr.write(
            `  ${w} workflows x ${VIDEOS} videos, ${m.label}: ${res.throughput.toFixed(2)} videos/s, p95 ${res.p95.toFixed(0)} ms, ` +
              `at most ${res.gpuMax} GPU job(s) at once, ${res.overcommits} over-commit(s)\n`,
          );
        }
      }
    }
  } finally {
    await arbiter.close();
    await redis.stop();
  }
  return { results, load: [loadBefore, os.loadavg()[0]] };
}

function report({ results, load }) {
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const lines = [
    '# OCR scenario through BullMQ (simulated): fixed worker concurrency vs gpu-arbiter GpuWorker',
    '',
    machineHeader(),
    `- command: node bench/bullmq-ocr.js${args.length > 0 ? ` ${args.join(' ')}` : ''} (${VIDEOS} videos per workflow, ${REPS} reps, modes interleaved, seed ${SEED})`,
    `- 1-minute load average before / after: ${load[0].toFixed(2)} / ${load[1].toFixed(2)}`,
    '- SIMULATED, as bench/ocr-pipeline.js: GPU stages 30-80 ms, CPU stages 10-40 ms (sleeps from a seeded RNG, the same for every',
    `  mode); a GPU job that starts while another runs takes ${Math.round(SLOWDOWN * 100)}% longer. Each GPU stage is a BullMQ job (real redis-server`,
    '  on loopback, bullmq 6.7.6) that its workflow adds and waits for (QueueEvents); VRAM per stage: detect 6144 MiB, crop 5632 MiB,',
    `  OCR 7168 MiB; budget 16384 * 0.95 = ${BUDGET_MIB} MiB: any two fit, no three. Over-commits: jobs started past the budget.`,
    '',
    '| workflows | mode | videos/s (median, min-max) | vs GpuWorker | p95 per-video latency (median) | GPU jobs at once (max) | over-commits (total) |',
    '|---|---|---:|---:|---:|---:|---:|',
  ];
  for (const w of WORKFLOWS) {
    const base = med(results.find((r) => r.workflows === w && r.mode.baseline).runs.map((x) => x.throughput));
    for (const r of results.filter((x) => x.workflows === w)) {
      const t = r.runs.map((x) => x.throughput);
      lines.push(
        `| ${w} | ${r.mode.label} | ${med(t).toFixed(2)} (${Math.min(...t).toFixed(2)} - ${Math.max(...t).toFixed(2)}) | ${(med(t) / base).toFixed(2)}x | ` +
          `${med(r.runs.map((x) => x.p95)).toFixed(0)} ms | ${Math.max(...r.runs.map((x) => x.gpuMax))} | ${r.runs.reduce((a, x) => a + x.overcommits, 0)} |`,
      );
    }
  }
  lines.push('');
  lines.push('With these stage sizes any two GPU jobs fit and no three, so a fixed concurrency of 2 is the best a fixed number can do');
  lines.push('here, and admission by VRAM runs the same two at most; GpuWorker also pays a look at the queue and a lease per job.');
  lines.push('A fixed concurrency has to be chosen for the largest jobs; admission follows the VRAM each job declares.');
  lines.push('');
  return lines.join('\n');
}

main()
  .then((res) => {
    const text = report(res);
    process.stdout.write(text);
    if (out !== null) {
      fs.writeFileSync(out, text);
      process.stderr.write(`wrote ${path.relative(process.cwd(), out)}\n`);
    }
    process.exit(0);
  })
  .catch((err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
