'use strict';
// NVML read cost: the monitor's cached snapshot read, a fresh sample on the sampler thread
// (sampleNow) on the mock NVML, and spawning a child process - the floor of any library that
// shells out to nvidia-smi (as `systeminformation` does), before nvidia-smi itself runs.
//
//   node bench/nvml-read.js [--quick]     (uses dist/: run `npm test` or `npm run build:ts` first)
require('./lib/require-ts');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { machine, machineHeader } = require('./lib/machine');
const { runSuite, fmtOps, fmtUs } = require('./lib/suite');
const { Rows } = require('./lib/rows');
const { MockNvml, defaultDevice, GiB } = require('../test/helpers/mock-nvml.ts');
const { GpuMonitor } = require('../dist');

const quick = process.argv.includes('--quick');

const loadAtStart = require('node:os').loadavg()[0];

async function main() {
  // Two GPUs with four processes each, like a busy inference host.
  const procs = (base) => [1, 2, 3, 4].map((i) => ({ pid: base + i, usedBytes: i * GiB }));
  const nvml = MockNvml.create({
    devices: [defaultDevice(0, { memoryUsed: 10 * GiB, processes: procs(1000) }), defaultDevice(1, { processes: procs(2000) })],
  });
  const restore = nvml.apply();
  // A long interval: the cached-read case must not convert a new sample mid-run.
  const monitor = await GpuMonitor.create({ libraryPath: nvml.libraryPath, intervalMs: 3_600_000 });
  if (!monitor.available) throw new Error(`mock NVML not available: ${monitor.unavailableReason}`);
  let sink = 0;
  const opts = quick ? { minSamples: 5, maxTime: 0.5 } : { minSamples: 20, maxTime: 3 };
  const rows = await runSuite(
    'nvml-read',
    [
      {
        name: 'monitor.snapshot() (cached read)',
        fn: () => {
          sink += monitor.snapshot().devices.length;
        },
      },
      {
        name: 'monitor.sampleNow() (fresh sample, mock NVML, 2 GPUs)',
        defer: true,
        fn: (d) => monitor.sampleNow().then(() => d.resolve()),
      },
      {
        name: "spawn a child process (execFile('true'))",
        defer: true,
        fn: (d) => execFile('true', () => d.resolve()),
      },
    ],
    opts,
  );
  await monitor.stop();
  restore();
  nvml.cleanup();
  if (sink === 0) throw new Error('benchmark optimised away');
  return rows;
}

function report(rows) {
  const m = machine();
  const lines = [
    '# NVML read cost',
    '',
    machineHeader(m),
    `- load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${require('node:os').loadavg()[0].toFixed(2)} (the VM's 2 cores were shared with other work)`,
    '- NVML: the mock libnvidia-ml.so.1 of native/mock-nvml (it re-reads a state file on every call, so a',
    '  real driver answers a sample faster or slower depending on the GPU; the cached read does not touch NVML)',
    `- command: node bench/nvml-read.js${quick ? ' --quick' : ''}`,
    '',
    '| case | ops/s | mean | +/- | samples |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${fmtOps(r.opsPerSec)} | ${fmtUs(r.meanUs)} | ${r.rme.toFixed(1)}% | ${r.samples} |`),
    '',
    `The cached read is ${(rows[2].meanUs / rows[0].meanUs).toFixed(0)}x cheaper than spawning a process, which is`,
    'only the floor of a nvidia-smi call (nvidia-smi itself then takes 7-400 ms).',
    '',
  ];
  return { text: lines.join('\n'), date: m.date };
}

main()
  .then((rows) => {
    const { text, date } = report(rows);
    const out = new Rows();
    const libs = [
      'gpu-arbiter monitor.snapshot() (cached)',
      'gpu-arbiter monitor.sampleNow() (fresh sample, mock NVML, 2 GPUs)',
      "spawn a child process, execFile('true') (floor of nvidia-smi)",
    ];
    rows.forEach((r, i) => {
      const common = { scope: 'nvml-read', case: 'read GPU state', library: libs[i], reps: r.samples };
      out.add({ ...common, metric: 'mean', unit: 'us', better: 'lower', value: r.meanUs, spread: { rme: r.rme }, baseline: i === 0 || undefined });
    });
    out.write();
    process.stdout.write(text);
    if (!quick && !out.file) {
      const out = path.join(__dirname, 'results', `nvml-read-${date}.md`);
      fs.writeFileSync(out, text);
      process.stderr.write(`wrote ${path.relative(process.cwd(), out)}\n`);
    }
  })
  .catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exitCode = 1;
  });
