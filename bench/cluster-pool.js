'use strict';
// The cluster pool at scale, by simulation (issue 15): 64 registered nodes x 8 GPUs (24, 48 and
// 80 GiB nodes in turn), 4 client processes submitting a mixed, seeded load (1-40 GiB, gangs of
// 2 and 4 GPUs, priorities 10/50/90, exponential hold times) against one redis-server on
// loopback, first through the pool (RedisLeases.acquirePool: Redis places each job on any live
// node that fits, one cluster queue), then the naive baseline in the same run (each job picks a
// random node that could hold it and waits there). Reports the pool's utilisation (granted MiB /
// capacity, sampled every second), wait p50/p99 per priority, fairness (Jain's index of jobs done
// per submitter), grants/s and the Redis server's CPU per grant (INFO cpu) and script time
// (INFO commandstats: evalsha usec_per_call).
//
//   node bench/cluster-pool.js [--quick] [--submitters N per process] [--out FILE]   (uses dist/: `npm run build:ts` first)
require('./lib/require-ts');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Redis } = require('ioredis');
const { machineHeader } = require('./lib/machine');
const { percentile } = require('./lib/rows');
const { RedisServer } = require('../test/helpers/redis-server.ts');
const { RedisLeases, NodeRegistry } = require('../dist');
const { resourceKeys } = require('../dist/backends/redis/keys');

const quick = process.argv.includes('--quick');
const outIdx = process.argv.indexOf('--out');
const out = outIdx >= 0 ? process.argv[outIdx + 1] : quick ? null : path.join(__dirname, 'results', `cluster-pool-${new Date().toISOString().slice(0, 10)}.md`);
const NODES = quick ? 16 : 64;
const GPUS = 8;
const PROCS = 4;
const subIdx = process.argv.indexOf('--submitters');
const SUBMITTERS = subIdx >= 0 ? Number(process.argv[subIdx + 1]) : quick ? 100 : 150;
const DURATION_MS = quick ? 8_000 : 60_000;
const MEAN_HOLD_MS = 2_000;
const GiB = 1024;
const MiB = 1024 * 1024;
const SIZES = [24 * GiB, 48 * GiB, 80 * GiB];

const fleet = Array.from({ length: NODES }, (_, i) => ({ id: `sim-${String(i).padStart(2, '0')}`, sizes: Array(GPUS).fill(SIZES[i % SIZES.length]) }));
const capacity = fleet.reduce((s, n) => s + n.sizes.reduce((a, b) => a + b, 0), 0);

async function registerFleet(url, namespace) {
  const parts = [];
  for (const n of fleet) {
    const leases = await RedisLeases.open({ redis: url, namespace });
    const devices = n.sizes.map((size, index) => ({
      index,
      name: 'Simulated GPU',
      uuid: `GPU-${n.id}-${index}`,
      memory: { totalBytes: size * MiB },
      utilization: null,
      error: null,
    }));
    const snap = { available: true, unavailableReason: null, devices };
    const registry = await NodeRegistry.start({ redis: url, namespace, nodeId: n.id, monitor: { snapshot: () => snap }, leases, ttlMs: 15_000 });
    parts.push({ leases, registry });
  }
  return async () => {
    for (const p of parts) {
      await p.registry.stop();
      await p.leases.close();
    }
  };
}

function client(url, namespace, mode, seed) {
  const cfg = { redis: url, namespace, mode, seed, submitters: SUBMITTERS, durationMs: DURATION_MS, meanHoldMs: MEAN_HOLD_MS, nodes: fleet };
  const child = spawn(process.execPath, [path.join(__dirname, 'lib', 'pool-client.js'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
  });
  return new Promise((resolve) => child.on('exit', () => resolve(JSON.parse(buf.trim().split('\n').pop() || '{"fatal":"no output"}'))));
}

function redisStats(raw) {
  return Promise.all([raw.info('cpu'), raw.info('commandstats')]).then(([cpu, cmd]) => {
    const n = (re, s) => Number((re.exec(s) || [])[1] || 0);
    const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(cmd) || [0, 0, 0];
    return { cpu: n(/used_cpu_sys:([\d.]+)/, cpu) + n(/used_cpu_user:([\d.]+)/, cpu), calls: Number(m[1]), usec: Number(m[2]) };
  });
}

async function run(url, mode) {
  const namespace = `${mode}${Date.now()}`;
  const stop = await registerFleet(url, namespace);
  const raw = new Redis(url);
  const declaredKeys = fleet.flatMap((n) => n.sizes.map((_, i) => resourceKeys(namespace, `${n.id}/gpu${i}`).meta));
  const util = [];
  const before = await redisStats(raw);
  const t0 = Date.now();
  const sampler = setInterval(async () => {
    const p = raw.pipeline();
    for (const k of declaredKeys) p.hget(k, 'declared');
    const r = await p.exec();
    util.push(r.reduce((s, [, v]) => s + Number(v || 0), 0) / capacity);
  }, 1000);
  const results = await Promise.all(Array.from({ length: PROCS }, (_, i) => client(url, namespace, mode, 1000 + i)));
  clearInterval(sampler);
  const seconds = (Date.now() - t0) / 1000;
  const after = await redisStats(raw);
  raw.disconnect();
  await stop();
  const fatal = results.find((r) => r.fatal);
  if (fatal) throw new Error(`${mode} client failed: ${fatal.fatal}`);
  const waits = results.flatMap((r) => r.waits);
  const done = results.flatMap((r) => r.done);
  const grants = waits.length;
  const sum = done.reduce((a, b) => a + b, 0);
  const jain = (sum * sum) / (done.length * done.reduce((a, b) => a + b * b, 0));
  // The first seconds fill an empty pool: utilisation counts from the 5th sample.
  const steady = util.slice(Math.min(4, Math.max(0, util.length - 1)));
  const byPrio = {};
  for (const p of [90, 50, 10]) {
    const w = waits.filter(([q]) => q === p).map(([, ms]) => ms);
    byPrio[p] = { n: w.length, p50: percentile(w, 50), p99: percentile(w, 99) };
  }
  return {
    mode,
    seconds,
    grants,
    grantsPerS: grants / seconds,
    util: steady.reduce((a, b) => a + b, 0) / steady.length,
    jain,
    byPrio,
    errors: results.reduce((acc, r) => {
      for (const [code, n] of Object.entries(r.errors)) acc[code] = (acc[code] || 0) + n;
      return acc;
    }, {}),
    cpuMsPerGrant: ((after.cpu - before.cpu) * 1000) / grants,
    cpuShare: (after.cpu - before.cpu) / seconds,
    scriptUs: (after.usec - before.usec) / Math.max(1, after.calls - before.calls),
    scriptCalls: after.calls - before.calls,
  };
}

(async () => {
  const server = await RedisServer.start();
  try {
    const pool = await run(server.url, 'pool');
    const naive = await run(server.url, 'naive');
    const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
    const row = (name, r) =>
      `| ${name} | ${f(r.util * 100)} % | ${f(r.grantsPerS)} | ${[90, 50, 10].map((p) => `${r.byPrio[p].p50} / ${r.byPrio[p].p99}`).join(' | ')} | ${f(r.jain, 3)} | ${f(r.cpuMsPerGrant, 3)} ms (${f(r.cpuShare * 100, 0)} % of a core) | ${f(r.scriptUs, 0)} us x ${r.scriptCalls} | ${
        Object.entries(r.errors)
          .map(([c, n]) => `${n} ${c}`)
          .join(', ') || 0
      } |`;
    const md = [
      '# Cluster pool: Redis placement vs naive random-node waiting (simulated)',
      '',
      machineHeader(),
      `- Redis: one redis-server on loopback (the run's own), no persistence`,
      `- pool: ${NODES} nodes x ${GPUS} GPUs (${SIZES.map((s) => s / GiB).join('/')} GiB nodes in turn), ${(capacity / GiB).toFixed(0)} GiB in all`,
      `- load: ${PROCS} processes x ${SUBMITTERS} submitters for ${DURATION_MS / 1000} s each run; jobs 1-40 GiB (gangs of 2 and 4: 1-20 GiB each), 15 % gangs of 2, 10 % of 4; priorities 10/50/90; hold exponential, mean ${MEAN_HOLD_MS} ms; same seeds for both runs`,
      `- command: \`node bench/cluster-pool.js${quick ? ' --quick' : ''}${subIdx >= 0 ? ` --submitters ${SUBMITTERS}` : ''}\``,
      '',
      '| run | utilisation (granted / capacity) | grants/s | wait p50 / p99 ms, prio 90 | prio 50 | prio 10 | fairness (Jain, jobs per submitter) | Redis CPU per grant | script time per call | not granted (E_TIMEOUT: still waiting at the end) |',
      '|---|---|---|---|---|---|---|---|---|---|',
      row('pool (acquirePool)', pool),
      row('naive (random node, wait there)', naive),
      '',
      `Ratio pool / naive: utilisation ${f(pool.util / naive.util, 2)}x, grants/s ${f(pool.grantsPerS / naive.grantsPerS, 2)}x.`,
      '',
    ].join('\n');
    process.stdout.write(md);
    if (out) fs.writeFileSync(out, md);
  } finally {
    await server.stop();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
