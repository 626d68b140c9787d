// Host-wide lock bench: gpu-arbiter's host ledger against proper-lockfile (tightest retry
// settings) and a plain flock(2) baseline, side by side in one run on the same machine.
//   1. uncontended acquire+release, async, one process (benchmark.js, and a plain timed loop),
//      also through GpuArbiter with backend 'host' (task policy, placement, lease, ledger)
//   2. cross-process handoff with 4 processes hammering one lock: latency from the holder's
//      release to the next holder (another process) having it, p50/p99, and owner changes/s
//   3. a holder SIGKILLed while another process waits: kill -> the waiter holds, 20 trials
//      (--reclaim-trials; 5 with --quick), median and worst, for the ledger and flock
// Usage: npm run build:ts && node bench/host-contention.js [--quick] [--seconds 3] [--reclaim-trials 20] [--out file.md]
// Writes bench/results/host-contention-<date>.md unless --out names another file.
'use strict';
const { fork, execFileSync } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Benchmark = require('benchmark');
const lockfile = require('proper-lockfile');
const { buildFlock } = require('./native-flock/build');
const { machineHeader } = require('./lib/machine');
const { Rows, summary, chunks } = require('./lib/rows');
const { GpuArbiter, HostLedger, SimulatedGpu, removeHostNamespace } = require('../dist');

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const QUICK = args.includes('--quick');
const SECONDS = Number(arg('--seconds', QUICK ? '1' : '3'));
const PROCS = 4;
// SIGKILL reclaim trials per lock (issue 17: median and worst of 20); proper-lockfile waits its
// 2 s stale minimum each time, so it gets 3.
const RECLAIM_TRIALS = Number(arg('--reclaim-trials', QUICK ? '5' : '20'));
const SLICES = 3; // the contended window is cut into 3 consecutive slices: the spread of a figure
const OUT = arg('--out', path.join(__dirname, 'results', `host-contention-${new Date().toISOString().slice(0, 10)}.md`));

const flock = require(buildFlock());
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-bench-'));

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ---------------------------------------------------------------------------------------------
async function uncontended() {
  const ns = `bench-uncontended-${process.pid}`;
  const ledger = await HostLedger.open({ namespace: ns, resources: { lock: 1 } });
  const fd = flock.open(path.join(tmp, 'uncontended.flock'));
  const plFile = path.join(tmp, 'uncontended.pl');
  fs.writeFileSync(plFile, '');
  const plOpts = { realpath: false, stale: 2000 };
  const arbNs = `bench-arbiter-${process.pid}`;
  const arbiter = await GpuArbiter.create({
    backend: 'host',
    namespace: arbNs,
    monitor: new SimulatedGpu([{ totalMiB: 16384 }]),
    maxFraction: 1,
    // The whole GPU: one holder at a time, so it is comparable with a lock.
    policies: { T: { priority: 50, vramMiB: 16384 } },
  });

  const cases = {
    'gpu-arbiter host (acquire+release, async)': async () => (await ledger.acquire('lock')).releaseSync(),
    'flock on the threadpool (async)': async () => {
      await flock.lock(fd);
      flock.unlock(fd);
    },
    'proper-lockfile (lock+unlock)': async () => (await lockfile.lock(plFile, plOpts))(),
    // Lease.release() finishes synchronously on the host backend; its promise is not awaited.
    'GpuArbiter host backend (acquire+release, async)': async () => void (await arbiter.acquire('T')).release(),
  };

  // A plain timed loop: what one awaited acquire+release costs back to back.
  const loop = {};
  for (const [name, fn] of Object.entries(cases)) {
    const n = (name.startsWith('proper') ? 2000 : 100000) / (QUICK ? 10 : 1);
    for (let i = 0; i < n / 10; i++) await fn(); // warm-up
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    loop[name] = Number(process.hrtime.bigint() - t0) / n / 1000;
  }
  const syncT0 = process.hrtime.bigint();
  for (let i = 0; i < 200000; i++) ledger.tryAcquire('lock').releaseSync();
  const syncUs = Number(process.hrtime.bigint() - syncT0) / 200000 / 1000;

  // benchmark.js (deferred), for its statistics.
  const bench = {};
  await new Promise((resolve) => {
    const suite = new Benchmark.Suite();
    for (const [name, fn] of Object.entries(cases)) {
      suite.add(name, { defer: true, fn: (d) => fn().then(() => d.resolve()), maxTime: QUICK ? 0.5 : name.startsWith('proper') ? 2 : 3 });
    }
    suite.on('cycle', (e) => {
      const b = e.target;
      bench[b.name] = { us: 1e6 / b.hz, rme: b.stats.rme, samples: b.stats.sample.length };
      console.log(String(b));
    });
    suite.on('complete', resolve);
    suite.run({ async: true });
  });
  await ledger.close();
  removeHostNamespace(ns);
  await arbiter.close();
  removeHostNamespace(arbNs);
  return { loop, bench, syncUs };
}

// ---------------------------------------------------------------------------------------------
// threads: the 4 contenders are worker_threads of this process (same worker script) instead of
// processes.
async function contended(kind, { threads = false } = {}) {
  let target;
  if (kind === 'host') {
    target = `bench-contended-${process.pid}`;
    const l = await HostLedger.open({ namespace: target, resources: { lock: 1 } });
    await l.close();
  } else {
    target = path.join(tmp, `contended.${kind}`);
    fs.writeFileSync(target, '');
  }
  const startAt = Date.now() + (threads ? 700 : 1500);
  const kids = [];
  for (let i = 0; i < PROCS; i++) {
    const out = path.join(tmp, `${kind}-${i}.log`);
    if (threads) {
      const w = new Worker(path.join(__dirname, 'lib', 'host-contention-worker.js'), { argv: [kind, target, String(startAt), String(SECONDS * 1000), out] });
      kids.push(
        new Promise((resolve, reject) => w.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${kind} worker thread exited ${code}`))))),
      );
      continue;
    }
    const child = fork(path.join(__dirname, 'lib', 'host-contention-worker.js'), [kind, target, String(startAt), String(SECONDS * 1000), out], {
      stdio: 'inherit',
    });
    kids.push(new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${kind} worker exited ${code}`))))));
  }
  const files = await Promise.all(kids);
  if (kind === 'host') removeHostNamespace(target);
  const holds = [];
  files.forEach((f, who) => {
    for (const line of fs.readFileSync(f, 'utf8').trim().split('\n')) {
      if (!line) continue;
      const [enter, exit] = line.split(' ').map(BigInt);
      holds.push({ who, enter, exit });
    }
  });
  holds.sort((a, b) => (a.enter < b.enter ? -1 : 1));
  let overlaps = 0;
  for (let i = 1; i < holds.length; i++) if (holds[i].enter < holds[i - 1].exit) overlaps++;
  // Count only the window in which all processes were running: before the last one started and
  // after the first one stopped, a lone process re-acquires uncontended, which says nothing
  // about contention.
  let from = 0n;
  let to = null;
  for (let who = 0; who < PROCS; who++) {
    const mine = holds.filter((h) => h.who === who);
    if (mine.length === 0) continue;
    if (mine[0].enter > from) from = mine[0].enter;
    const last = mine[mine.length - 1].exit;
    if (to === null || last < to) to = last;
  }
  const window = holds.filter((h) => h.enter >= from && h.exit <= to);
  const seconds = Number(to - from) / 1e9;
  const handoffs = [];
  for (let i = 1; i < window.length; i++) {
    if (window[i].who !== window[i - 1].who) handoffs.push(Number(window[i].enter - window[i - 1].exit) / 1000);
  }
  // The spread: the same figures over SLICES consecutive slices of the window.
  const sliceStats = chunks(
    window.map((h, i) => ({ ...h, i })),
    SLICES,
  ).map((part) => {
    const hs = [];
    for (let i = 1; i < part.length; i++) if (part[i].who !== part[i - 1].who) hs.push(Number(part[i].enter - part[i - 1].exit) / 1000);
    hs.sort((a, b) => a - b);
    const secs = Number(part[part.length - 1].exit - part[0].enter) / 1e9;
    return { p50: pct(hs, 50), p99: pct(hs, 99), ownerChangesPerSec: hs.length / secs };
  });
  handoffs.sort((a, b) => a - b);
  return {
    sliceStats,
    threads,
    kind,
    holds: holds.length,
    seconds,
    ownerChangesPerSec: handoffs.length / seconds,
    acquisitionsPerSec: window.length / seconds,
    p50: pct(handoffs, 50),
    p99: pct(handoffs, 99),
    overlaps,
  };
}

// ---------------------------------------------------------------------------------------------
// A holder is SIGKILLed while this process waits: how long until we hold the lock.
async function reclaim(kind) {
  let target;
  let waitFor;
  let cleanup = () => {};
  if (kind === 'host') {
    target = `bench-reclaim-${process.pid}`;
    const ledger = await HostLedger.open({ namespace: target, resources: { lock: 1 } });
    waitFor = async () => (await ledger.acquire('lock')).releaseSync();
    cleanup = async () => {
      await ledger.close();
      removeHostNamespace(target);
    };
  } else if (kind === 'flock') {
    target = path.join(tmp, 'reclaim.flock');
    const fd = flock.open(target);
    waitFor = async () => {
      await flock.lock(fd);
      flock.unlock(fd);
    };
  } else {
    target = path.join(tmp, 'reclaim.pl');
    fs.writeFileSync(target, '');
    const opts = { realpath: false, stale: 2000, retries: { forever: true, factor: 1, minTimeout: 1, maxTimeout: 1 } };
    waitFor = async () => (await lockfile.lock(target, opts))();
  }
  const child = fork(path.join(__dirname, 'lib', 'host-contention-worker.js'), [kind, target, 'hold'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  await new Promise((resolve) => child.stdout.on('data', (d) => String(d).includes('held') && resolve()));
  const got = waitFor();
  await new Promise((r) => setTimeout(r, 100)); // the waiter is queued / retrying
  const t0 = process.hrtime.bigint();
  child.kill('SIGKILL');
  await got;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await cleanup();
  return ms;
}

// ---------------------------------------------------------------------------------------------
const rowsOut = new Rows(args);
const LIB = {
  host: 'gpu-arbiter HostLedger',
  arbiter: "gpu-arbiter GpuArbiter (backend 'host')",
  flock: 'flock(2) (threadpool)',
  'proper-lockfile': 'proper-lockfile',
};

function emitRows(u, c, t, reclaimMs) {
  const names = {
    'gpu-arbiter host (acquire+release, async)': 'host',
    'flock on the threadpool (async)': 'flock',
    'proper-lockfile (lock+unlock)': 'proper-lockfile',
    'GpuArbiter host backend (acquire+release, async)': 'arbiter',
  };
  for (const [name, kind] of Object.entries(names)) {
    const b = u.bench[name];
    rowsOut.add({
      scope: 'cross-process',
      case: 'acquire+release, uncontended, async (one process)',
      library: LIB[kind],
      metric: 'mean',
      unit: 'us',
      better: 'lower',
      value: b ? b.us : null,
      spread: b ? { rme: b.rme } : null,
      reps: b ? b.samples : 0,
      baseline: kind === 'host' || undefined,
    });
  }
  for (const [scope, runs, who] of [
    ['cross-process', c, `${PROCS} processes`],
    ['cross-thread', t, `${PROCS} worker_threads`],
  ]) {
    for (const r of runs) {
      for (const [metric, unit, better, key] of [
        ['p50', 'us', 'lower', 'p50'],
        ['p99', 'us', 'lower', 'p99'],
        ['owner changes/s', '/s', 'higher', 'ownerChangesPerSec'],
      ]) {
        const sl = summary(r.sliceStats.map((x) => x[key]));
        rowsOut.add({
          scope,
          case: metric === 'owner changes/s' ? `owner changes/s, ${who} on one lock` : `handoff (release -> next holder), ${who} on one lock`,
          library: LIB[r.kind],
          metric,
          unit,
          better,
          value: r[key],
          spread: sl.spread && { ...sl.spread, of: `${SLICES} consecutive slices of the ${r.seconds.toFixed(1)} s run` },
          reps: sl.reps,
          baseline: r.kind === 'host' || undefined,
        });
      }
    }
  }
  const notThreads = 'in-process only: its lock lives in one JS isolate, worker_threads cannot share it';
  for (const lib of ['async-mutex Mutex', 'async-lock', 'p-queue (concurrency 1)']) {
    for (const metric of ['p50', 'owner changes/s']) {
      rowsOut.add({
        scope: 'cross-thread',
        case:
          metric === 'owner changes/s'
            ? `owner changes/s, ${PROCS} worker_threads on one lock`
            : `handoff (release -> next holder), ${PROCS} worker_threads on one lock`,
        library: lib,
        metric,
        unit: metric === 'p50' ? 'us' : '/s',
        better: metric === 'p50' ? 'lower' : 'higher',
        value: null,
        note: notThreads,
        reps: 0,
      });
    }
  }
  for (const [kind, runs] of Object.entries(reclaimMs)) {
    const sm = summary(runs);
    rowsOut.add({
      scope: 'cross-process',
      case: 'SIGKILLed holder -> waiter in another process holds',
      library: LIB[kind],
      metric: 'median',
      unit: 'ms',
      better: 'lower',
      ...sm,
      baseline: kind === 'host' || undefined,
    });
    rowsOut.add({
      scope: 'cross-process',
      case: 'SIGKILLed holder -> waiter in another process holds',
      library: LIB[kind],
      metric: 'worst',
      unit: 'ms',
      better: 'lower',
      value: runs.length ? runs[runs.length - 1] : null,
      spread: null,
      reps: runs.length,
      baseline: kind === 'host' || undefined,
    });
  }
  rowsOut.write();
}

(async () => {
  const started = new Date();
  const loadBefore = os.loadavg()[0];
  console.log(`host-contention bench: ${os.cpus().length} CPU(s), Node ${process.version}, ${SECONDS} s per contended run`);
  const u = await uncontended();
  const c = [];
  for (const kind of ['host', 'flock', 'proper-lockfile']) {
    const r = await contended(kind);
    console.log(
      `${kind}: handoff p50 ${r.p50.toFixed(1)} us, p99 ${r.p99.toFixed(1)} us, ${r.ownerChangesPerSec.toFixed(0)} owner changes/s, ${r.acquisitionsPerSec.toFixed(0)} acquisitions/s, overlaps ${r.overlaps}`,
    );
    c.push(r);
  }
  const t = [];
  for (const kind of ['host', 'flock', 'proper-lockfile']) {
    const r = await contended(kind, { threads: true });
    console.log(
      `${kind} (worker_threads): handoff p50 ${r.p50.toFixed(1)} us, p99 ${r.p99.toFixed(1)} us, ${r.ownerChangesPerSec.toFixed(0)} owner changes/s, overlaps ${r.overlaps}`,
    );
    t.push(r);
  }
  const reclaimMs = {};
  for (const kind of ['host', 'flock', 'proper-lockfile']) {
    const runs = [];
    const trials = kind === 'proper-lockfile' ? Math.min(3, RECLAIM_TRIALS) : RECLAIM_TRIALS;
    for (let i = 0; i < trials; i++) runs.push(await reclaim(kind));
    runs.sort((a, b) => a - b);
    reclaimMs[kind] = runs;
    console.log(
      `${kind}: SIGKILLed holder -> waiter holds after ${runs.map((x) => x.toFixed(2)).join(', ')} ms (median ${pct(runs, 50).toFixed(2)}, worst ${runs[runs.length - 1].toFixed(2)})`,
    );
  }
  fs.rmSync(tmp, { recursive: true, force: true });

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  let kernel = os.release();
  try {
    kernel = execFileSync('uname', ['-sr']).toString().trim();
  } catch {}
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const lines = [];
  lines.push(`# Host lock contention - ${started.toISOString().slice(0, 10)}`);
  lines.push('');
  lines.push(`- Machine: ${os.cpus().length}-core x86-64 Linux VM (${cpu}), ${kernel}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`);
  lines.push(`- Node ${process.version}; run ${started.toISOString()}; \`node bench/host-contention.js ${QUICK ? '--quick' : `--seconds ${SECONDS}`}\``);
  lines.push(machineHeader());
  lines.push(`- load average (1 min) at start ${loadBefore.toFixed(2)}, at end ${os.loadavg()[0].toFixed(2)}: other work shares these 2 vCPUs`);
  lines.push(
    `- Peers: proper-lockfile ${require('proper-lockfile/package.json').version} (retry every 1 ms, stale 2000 ms: its tightest), flock(2) baseline (LOCK_EX on the libuv threadpool via a bench-only N-API addon, bench/native-flock/)`,
  );
  lines.push('');
  lines.push('## Uncontended acquire+release, one process, async (lower is better)');
  lines.push('');
  lines.push('| lock | timed loop (us/op) | benchmark.js (us/op, +-rme) |');
  lines.push('|---|---|---|');
  for (const name of Object.keys(u.loop)) {
    const b = u.bench[name];
    lines.push(`| ${name} | ${f(u.loop[name], 2)} | ${b ? `${f(b.us, 2)} +-${f(b.rme, 1)}%` : 'n/a'} |`);
  }
  lines.push(`| gpu-arbiter host, tryAcquire+releaseSync (sync) | ${f(u.syncUs, 2)} | - |`);
  lines.push('');
  lines.push(`## Cross-process handoff, ${PROCS} processes on one lock, ${SECONDS} s each`);
  lines.push('');
  lines.push(
    'Handoff = from the holder stamping its release to the next holder (another process) stamping its grant, CLOCK_MONOTONIC across processes. Rates and latencies count only the window in which all 4 processes were running (column "window"); overlapping holds are counted over the whole run (must be 0).',
  );
  lines.push('');
  lines.push('| lock | handoff p50 (us) | handoff p99 (us) | owner changes/s | acquisitions/s | window (s) | overlapping holds |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const r of c) {
    lines.push(
      `| ${r.kind === 'host' ? 'gpu-arbiter host' : r.kind} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.ownerChangesPerSec, 0)} | ${f(r.acquisitionsPerSec, 0)} | ${f(r.seconds, 2)} | ${r.overlaps} |`,
    );
  }
  lines.push('');
  lines.push(`## Cross-thread handoff, ${PROCS} worker_threads of one process on one lock, ${SECONDS} s each`);
  lines.push('');
  lines.push(
    'The same worker script and measurement as above, run as worker_threads (each opens its own ledger handle / file descriptor). In-process locks (async-mutex, async-lock, p-queue) live in one isolate and cannot be shared by worker_threads at all.',
  );
  lines.push('');
  lines.push('| lock | handoff p50 (us) | handoff p99 (us) | owner changes/s | acquisitions/s | window (s) | overlapping holds |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const r of t) {
    lines.push(
      `| ${r.kind === 'host' ? 'gpu-arbiter host' : r.kind} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.ownerChangesPerSec, 0)} | ${f(r.acquisitionsPerSec, 0)} | ${f(r.seconds, 2)} | ${r.overlaps} |`,
    );
  }
  lines.push('');
  lines.push('## SIGKILLed holder: kill -> a waiter in another process holds the lock');
  lines.push('');
  lines.push('| lock | trials | median (ms) | worst (ms) | runs, sorted (ms) |');
  lines.push('|---|---|---|---|---|');
  for (const [kind, runs] of Object.entries(reclaimMs)) {
    lines.push(
      `| ${kind === 'host' ? 'gpu-arbiter host' : kind} | ${runs.length} | ${f(pct(runs, 50), 2)} | ${f(runs[runs.length - 1], 2)} | ${runs.map((x) => f(x, 2)).join(', ')} |`,
    );
  }
  lines.push('');
  const host = c.find((r) => r.kind === 'host');
  const flockRun = c.find((r) => r.kind === 'flock');
  const hostUs = u.loop['gpu-arbiter host (acquire+release, async)'];
  lines.push('## Against the targets');
  lines.push('');
  lines.push(
    `- Issue 5: cross-process handoff p50 <= 50 us: **${f(host.p50)} us** (${host.p50 <= 50 ? 'met' : 'NOT met'}); uncontended acquire+release <= 5 us: **${f(hostUs, 2)} us** (${hostUs <= 5 ? 'met' : 'NOT met'}).`,
  );
  lines.push(
    `- docs/design.md: uncontended <= 3 us (${hostUs <= 3 ? 'met' : 'not met'}); owner changes/s >= 2x flock: ${f(host.ownerChangesPerSec / flockRun.ownerChangesPerSec, 2)}x (${host.ownerChangesPerSec >= 2 * flockRun.ownerChangesPerSec ? 'met' : 'not met'}); SIGKILLed holder reclaimed <= 10 ms: median ${f(pct(reclaimMs.host, 50), 2)} ms, worst ${f(reclaimMs.host[reclaimMs.host.length - 1], 2)} ms.`,
  );
  const hostT = t.find((r) => r.kind === 'host');
  const flockT = t.find((r) => r.kind === 'flock');
  const ratio = (a, b) => f(a / b, 2);
  const hostMed = pct(reclaimMs.host, 50);
  const hostWorst = reclaimMs.host[reclaimMs.host.length - 1];
  const flockMed = pct(reclaimMs.flock, 50);
  const flockWorst = reclaimMs.flock[reclaimMs.flock.length - 1];
  lines.push(
    `- Issue 17, ${PROCS} processes: owner changes/s >= 1.5x flock: **${ratio(host.ownerChangesPerSec, flockRun.ownerChangesPerSec)}x** (${host.ownerChangesPerSec >= 1.5 * flockRun.ownerChangesPerSec ? 'met' : 'NOT met'}); handoff p50 <= 0.7x flock: **${ratio(host.p50, flockRun.p50)}x** (${host.p50 <= 0.7 * flockRun.p50 ? 'met' : 'NOT met'}).`,
  );
  lines.push(
    `- Issue 17, ${PROCS} worker_threads: owner changes/s ${ratio(hostT.ownerChangesPerSec, flockT.ownerChangesPerSec)}x flock (${hostT.ownerChangesPerSec >= 1.5 * flockT.ownerChangesPerSec ? 'met' : 'NOT met'}); handoff p50 ${ratio(hostT.p50, flockT.p50)}x flock (${hostT.p50 <= 0.7 * flockT.p50 ? 'met' : 'NOT met'}).`,
  );
  lines.push(
    `- Issue 17, SIGKILLed holder within 1.0x flock (${reclaimMs.host.length} trials): median ${f(hostMed, 2)} ms vs ${f(flockMed, 2)} ms = **${ratio(hostMed, flockMed)}x** (${hostMed <= flockMed ? 'met' : 'NOT met'}); worst ${f(hostWorst, 2)} ms vs ${f(flockWorst, 2)} ms = **${ratio(hostWorst, flockWorst)}x** (${hostWorst <= flockWorst ? 'met' : 'NOT met'}).`,
  );
  lines.push('');
  lines.push('## Notes');
  lines.push('');
  lines.push('- On a 2-vCPU VM one run can swing by 2x with what else the vCPUs are doing: compare within a run, not across files.');
  lines.push(
    '- Host "acquisitions/s" is far above "owner changes/s" because a process that releases with nobody queued re-acquires at the uncontended cost (~1 us); on 2 cores the other processes are often descheduled right after their own release. While any waiter is queued the ledger is strict priority + FIFO, so that never jumps a queued waiter. "owner changes/s" is the contention figure.',
  );
  lines.push(
    '- Each host handoff costs one wake-up: the releasing process grants inside the ledger and sends one datagram to the waiting thread\'s event loop (docs/host-ledger.md, "Wake-ups"). flock on the threadpool costs two (the blocked threadpool thread, then the loop through uv_async).',
  );
  lines.push(
    '- "GpuArbiter host backend" is the public path over the same ledger: task policy, placement over the GPU view (one simulated 16 GiB GPU, the task takes all of it), a usage() read of the ledger for placement, the ledger grant with a holder label ("<pid> <leaseId> <task>"), the Lease and its metrics, then release.',
  );
  lines.push(
    "- Reclaim: a waiting process's holder watcher sleeps on the holder's robust `alive` mutex word; the kernel wakes it as the holder's threads exit (robust list), before the dead process's files are closed, and it reclaims and grants at once (no polling). flock is released by the kernel when the dead process's files are closed; proper-lockfile waits for its 2 s stale minimum plus mtime granularity.",
  );
  lines.push('');
  const text = `${lines.join('\n')}\n`;
  console.log(`\n${text}`);
  emitRows(u, c, t, reclaimMs);
  if (!rowsOut.file || args.includes('--out')) {
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    fs.writeFileSync(OUT, text);
    console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
