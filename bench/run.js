'use strict';
// `npm run bench [-- --quick] [-- --out DIR]`: every benchmark in one sitting on one machine, side
// by side with the libraries users would pick instead, per scope:
//   in-process    bench/local-contention.js  async-mutex, async-lock, p-queue
//   cross-thread  bench/host-contention.js   flock(2), proper-lockfile (in-process locks: n/a)
//   cross-process bench/host-contention.js   flock(2), proper-lockfile
//   cross-host    bench/redis-contention.js  redis-semaphore, redlock (needs redis-server)
//   nvml-read     bench/nvml-read.js         spawning a process (the floor of nvidia-smi)
//   ocr-pipeline  bench/ocr-pipeline.js      simulated scenario: global lock, GPU-only lock
// Each bench runs as its own process with `--json <tmp>`; this merges the rows, adds each row's
// ratio to the matching gpu-arbiter row (same scope, case and metric) and writes
// bench/results/<date>-<machine>.md and .json. With --quick every bench runs in its quick mode
// and nothing is written unless --out DIR is given (CI smoke: it asserts no timing).
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { machine, machineHeader } = require('./lib/machine');
const { fmtValue, fmtSpread } = require('./lib/rows');
const { targets, WHY_NOT } = require('./lib/targets');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outIdx = args.indexOf('--out');
const outDir = outIdx >= 0 ? path.resolve(args[outIdx + 1]) : quick ? null : path.join(__dirname, 'results');

const BENCHES = [
  { file: 'local-contention.js', scopes: ['in-process'] },
  { file: 'host-contention.js', scopes: ['cross-thread', 'cross-process'] },
  { file: 'redis-contention.js', scopes: ['cross-host'], needs: 'redis-server' },
  { file: 'nvml-read.js', scopes: ['nvml-read'] },
  { file: 'ocr-pipeline.js', scopes: ['ocr-pipeline'] },
];
const SCOPES = {
  'in-process': 'In-process: one lock shared by async tasks of one event loop',
  'cross-thread': 'Cross-thread: worker_threads of one process on one lock',
  'cross-process': 'Cross-process: processes of one host on one lock',
  'cross-host': 'Cross-host: clients of one Redis 7 on loopback on one lock',
  'nvml-read': 'Reading GPU state: NVML (mock driver) vs spawning a process',
  'ocr-pipeline': 'Scenario (simulated): video-subtitle OCR pipeline on one 16 GiB GPU',
};

const log = (s) => process.stderr.write(`${s}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function has(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return !r.error;
}

function runBench(b, jsonFile) {
  return new Promise((resolve) => {
    const argv = [path.join(__dirname, b.file), '--json', jsonFile, ...(quick ? ['--quick'] : [])];
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', (code, signal) => resolve({ code, signal, stdout }));
  });
}

// Each peer row's ratio to the gpu-arbiter row of the same scope, case and metric: value / theirs.
// Rows that carry paired per-round samples (measured in the same rounds) use the median of the
// per-round ratios. `advantage` > 1 means gpu-arbiter does better (whichever way is better).
function addRatios(rows) {
  for (const r of rows) {
    const base = rows.find((b) => b.baseline && b.scope === r.scope && b.case === r.case && b.metric === r.metric);
    r.ratio = null;
    r.advantage = null;
    if (!base || r === base || r.value === null || base.value === null || base.value === 0) continue;
    if (r.paired && base.paired && r.samples && base.samples && r.samples.length === base.samples.length) {
      r.ratio = median(r.samples.map((x, i) => x / base.samples[i]));
    } else {
      r.ratio = r.value / base.value;
    }
    r.advantage = r.better === 'higher' ? 1 / r.ratio : r.ratio;
  }
}

function fmtRatio(x) {
  if (x >= 100) return `${x.toFixed(0)}x`;
  if (x < 0.01) return `${x.toPrecision(2)}x`;
  return `${x.toFixed(2)}x`;
}

function verdict(r) {
  if (r.baseline) return 'baseline';
  if (r.value === null) return `n/a: ${r.note}`;
  if (r.advantage === null) return '-';
  if (r.library.startsWith('gpu-arbiter')) return 'another gpu-arbiter API, for reference';
  const a = r.advantage;
  if (a >= 0.95 && a <= 1.05) return 'about even';
  return a > 1 ? `gpu-arbiter ${a.toFixed(a >= 10 ? 0 : 2)}x better` : `gpu-arbiter ${(1 / a).toFixed(1 / a >= 10 ? 0 : 2)}x worse`;
}

function markdown(report) {
  const { rows, m } = report;
  const L = [];
  L.push(`# gpu-arbiter benchmarks - ${m.date}, ${report.slug}`);
  L.push('');
  L.push(machineHeader(m));
  L.push(
    `- command: \`npm run bench${quick ? ' -- --quick' : ''}\` (bench/run.js), ${report.startedAt} to ${report.endedAt} (${report.seconds.toFixed(0)} s), every bench in this one sitting`,
  );
  L.push(
    `- load average (1/5/15 min) at start ${report.load.start.map((x) => x.toFixed(2)).join(' / ')}, at end ${report.load.end.map((x) => x.toFixed(2)).join(' / ')}: this 2-vCPU VM is shared with other work, so absolute figures move between runs; the ratios within one run are what this file is for`,
  );
  L.push(`- libraries: ${report.versions}`);
  L.push(
    `- benches: ${report.benches.map((b) => `${b.file} ${b.status}${b.seconds ? ` (${b.seconds.toFixed(0)} s)` : ''}${b.reason ? `: ${b.reason}` : ''}`).join('; ')}`,
  );
  L.push('');
  L.push('Each row: the value (median over its repetitions unless the metric says otherwise), the spread over the');
  L.push('repetitions (min - max, or +/- relative margin of error for benchmark.js rows), the repetitions, the ratio');
  L.push('row / gpu-arbiter row of the same case (the "baseline"), and which way that goes. Per-bench detail files');
  L.push('(`node bench/<name>.js` alone) describe each measurement. Rows whose spread is "of N slices/thirds/batches"');
  L.push('give the figure over the whole run as the value and the min - max of the same figure over consecutive parts');
  L.push('of that run as the spread.');
  for (const [scope, title] of Object.entries(SCOPES)) {
    const mine = rows.filter((r) => r.scope === scope);
    L.push('');
    L.push(`## ${title}`);
    L.push('');
    if (mine.length === 0) {
      const b = report.benches.find((x) => x.scopes.includes(scope));
      L.push(`Not measured in this run${b && b.reason ? `: ${b.reason}` : b ? ` (${b.file} ${b.status})` : ''}.`);
      continue;
    }
    L.push('| case | library | metric | value | spread | reps | ratio to gpu-arbiter | reading |');
    L.push('|---|---|---|---:|---:|---:|---:|---|');
    for (const r of mine) {
      L.push(
        `| ${r.case} | ${r.library} | ${r.metric} | ${fmtValue(r.value, r.unit)} | ${r.value === null ? '-' : fmtSpread(r)} | ${r.reps} | ${r.ratio === null ? '-' : fmtRatio(r.ratio)} | ${verdict(r)} |`,
      );
    }
    const notes = mine.filter((r) => r.note && r.value !== null);
    if (notes.length) {
      L.push('');
      for (const r of notes) L.push(`- ${r.library}, ${r.case}, ${r.metric}: ${r.note}`);
    }
  }
  L.push('');
  L.push('## Targets in this run (docs/design.md "Figures we aim for")');
  L.push('');
  L.push('| what | target | measured | |');
  L.push('|---|---|---|---|');
  for (const t of report.targets) L.push(`| ${t.what} | ${t.target} | ${t.measured} | ${t.met ? 'met' : '**not met**'} |`);
  L.push('');
  const missed = report.targets.filter((t) => !t.met);
  L.push('## Closing note: targets not met in this run');
  L.push('');
  if (missed.length === 0) L.push('None: every target checked above was met in this run.');
  for (const t of missed) L.push(`- **${t.what}** (target ${t.target}; measured ${t.measured}). Why: ${t.ifNot || 'not analysed'}`);
  const unchecked = Object.keys(WHY_NOT).filter((w) => !report.targets.some((t) => t.what === w));
  if (unchecked.length) L.push(`- Not checked in this run (its bench was skipped or failed): ${unchecked.join('; ')}.`);
  L.push('');
  return L.join('\n');
}

async function main() {
  const dist = path.join(__dirname, '..', 'dist', 'index.js');
  if (!fs.existsSync(dist)) {
    log('dist/ is missing: run `npm run build:ts` (or `npm test`) first.');
    process.exit(2);
  }
  const t0 = Date.now();
  const startedAt = new Date().toISOString();
  const loadStart = os.loadavg();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-bench-run-'));
  log(`bench: ${quick ? 'quick mode (CI smoke: no timing is asserted)' : 'full run'}, load average ${loadStart.map((x) => x.toFixed(2)).join(' ')}`);
  const rows = [];
  const benches = [];
  let failed = 0;
  for (const [i, b] of BENCHES.entries()) {
    const entry = { file: b.file, scopes: b.scopes, status: 'ok', seconds: 0 };
    benches.push(entry);
    if (b.needs && !has(b.needs)) {
      entry.status = 'skipped';
      entry.reason = `${b.needs} not found on PATH`;
      log(`[${i + 1}/${BENCHES.length}] ${b.file}: SKIPPED (${entry.reason})`);
      continue;
    }
    log(`[${i + 1}/${BENCHES.length}] ${b.file} (${b.scopes.join(', ')})`);
    const s0 = Date.now();
    const json = path.join(tmp, `${b.file}.json`);
    const res = await runBench(b, json);
    entry.seconds = (Date.now() - s0) / 1000;
    if (res.code !== 0 || !fs.existsSync(json)) {
      failed++;
      entry.status = `failed (exit ${res.code ?? res.signal})`;
      log(`[${i + 1}/${BENCHES.length}] ${b.file} FAILED (exit ${res.code ?? res.signal}); its stdout:\n${res.stdout}`);
      continue;
    }
    rows.push(...JSON.parse(fs.readFileSync(json, 'utf8')));
    log(`[${i + 1}/${BENCHES.length}] ${b.file} done in ${entry.seconds.toFixed(1)} s`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  addRatios(rows);
  const m = machine();
  const slug = `${m.cpu}-${m.memory}`
    .toLowerCase()
    .replace(/ x /g, 'x-')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  const v = (name) => {
    try {
      const pkg = path.join(__dirname, '..', 'node_modules', name, 'package.json');
      return `${name} ${JSON.parse(fs.readFileSync(pkg, 'utf8')).version}`;
    } catch {
      return `${name} ?`;
    }
  };
  const report = {
    m,
    slug,
    quick,
    startedAt,
    endedAt: new Date().toISOString(),
    seconds: (Date.now() - t0) / 1000,
    load: { start: loadStart, end: os.loadavg() },
    versions: ['async-mutex', 'async-lock', 'p-queue', 'proper-lockfile', 'redis-semaphore', 'redlock', 'ioredis', 'benchmark'].map(v).join(', '),
    benches,
    rows,
  };
  report.targets = targets(rows);
  const md = markdown(report);
  if (outDir) {
    fs.mkdirSync(outDir, { recursive: true });
    const base = path.join(outDir, `${m.date}-${slug}${quick ? '-quick' : ''}`);
    fs.writeFileSync(`${base}.md`, md);
    const { m: machineInfo, ...rest } = report;
    fs.writeFileSync(`${base}.json`, `${JSON.stringify({ machine: machineInfo, ...rest }, null, 1)}\n`);
    log(`wrote ${path.relative(process.cwd(), base)}.md and .json`);
  } else {
    process.stdout.write(md);
  }
  log(`bench: ${failed ? `${failed} bench(es) FAILED` : 'all benches ran'} in ${report.seconds.toFixed(0)} s`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  log(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
