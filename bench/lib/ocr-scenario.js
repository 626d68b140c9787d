// The simulated OCR pipeline both bench/ocr-pipeline.js and bench/bullmq-ocr.js run: its six
// stages (three on the GPU, with the VRAM each declares), the seed, the numbers of workflows, and
// the seeded stage times, so both benches measure exactly the same inputs.
'use strict';
const { mulberry32 } = require('../../dist/util/rng');

const SEED = 20261125;
const WORKFLOWS = [3, 5];
const STAGES = [
  { name: 'extract keyframes', gpu: false },
  { name: 'detect subtitle area', gpu: true, task: 'DETECT', vramMiB: 6144 },
  { name: 'crop', gpu: true, task: 'CROP', vramMiB: 5632 },
  { name: 'stitch', gpu: false },
  { name: 'OCR', gpu: true, task: 'OCR', vramMiB: 7168 },
  { name: 'postprocess', gpu: false },
];

/** videos[w][v] = the stage times (ms) of video v of workflow w: GPU 30-80 ms, CPU 10-40 ms. */
function inputs(workflows, videos) {
  const r = mulberry32(SEED + workflows);
  return Array.from({ length: workflows }, () => Array.from({ length: videos }, () => STAGES.map((s) => Math.round(s.gpu ? 30 + 50 * r() : 10 + 30 * r()))));
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/** The command line both benches take: --quick, --videos N, --reps R, --share-slowdown F, and arg(name) for the rest. */
function scenarioArgs(args = process.argv.slice(2)) {
  const arg = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const quick = args.includes('--quick');
  return {
    args,
    arg,
    quick,
    videos: Number(arg('--videos', quick ? 2 : 5)),
    reps: Number(arg('--reps', quick ? 1 : 3)),
    slowdown: Number(arg('--share-slowdown', '0.25')),
  };
}

module.exports = { SEED, WORKFLOWS, STAGES, inputs, sleep, scenarioArgs };
