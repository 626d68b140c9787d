'use strict';
// Redis part of the soak: 4 worker processes (./worker.js), each a GpuArbiter on one Redis
// (leaseTtlMs 1000), worker 0 through a TCP proxy; this process, the controller, runs a fault
// schedule: SIGKILLs (respawned), DEBUG SLEEP stalls (shorter and longer than the TTL), one
// restart of redis-server with its data lost, and black-holes of worker 0's connection. Then
// every worker stops cleanly and ./analyse.js checks their records and Redis (for leaks).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { RedisLeases } = require('../../../dist');
const { WorkerPool, now } = require('../lib/pool');
const { SoakRedis } = require('./server');
const { BlackholeProxy } = require('./proxy');
const { analyseRedis } = require('./analyse');

const TOTAL_MIB = 1000;
const TTL_MS = 1000;

/**
 * One cycle of faults, seconds from the cycle's start. The data-loss restart happens once per
 * run (in the cycle `restartCycle`); no SIGKILL falls within [restart - 1.5 s, restart + 3 s]:
 * a process started after Redis lost its data that reaches Redis before every older process is
 * granted at once (the limit docs/design.md states for the pool epoch), which is not a fault
 * this suite injects.
 */
const CYCLE_S = 36;
const CYCLE = [
  [3, 'blackhole', 3],
  [7, 'kill'],
  [9, 'stall', 0.5],
  [12, 'restart'],
  [17, 'stall', 2],
  [22, 'kill'],
  [25, 'blackhole', 3],
  [30, 'kill'],
  [32, 'stall', 1],
];

function schedule(cycles, restartCycle) {
  const out = [];
  for (let c = 0; c < cycles; c++) {
    for (const [t, kind, arg] of CYCLE) {
      if (kind === 'restart' && c !== restartCycle) continue;
      out.push({ at: c * CYCLE_S + t + Math.random() * 0.8, kind, arg });
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

async function runRedisPart({ quick, log }) {
  const cycles = quick ? 1 : 7;
  const plan = schedule(cycles, Math.floor(cycles / 2));
  const server = await SoakRedis.start();
  const proxy = await BlackholeProxy.start(server.port);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpa-soak-redis-'));
  const namespace = `soak-${process.pid}`;
  const pool = new WorkerPool({
    script: path.join(__dirname, 'worker.js'),
    slots: 4,
    dir,
    config: (slot) => ({ url: slot === 0 ? proxy.url : server.url, namespace, totalMiB: TOTAL_MIB }),
  });
  const faults = [];
  try {
    pool.start();
    const t0 = Date.now();
    while (pool.running().length < 4) {
      if (Date.now() - t0 > 30_000 || pool.failures.length > 0) throw new Error(`workers did not start: ${pool.failures.join('; ')}`);
      await sleep(20);
    }
    const started = Date.now();
    const pending = [];
    for (const ev of plan) {
      const wait = started + ev.at * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      const f = { kind: ev.kind, arg: ev.arg, at: now(), end: null };
      faults.push(f);
      log(`redis: ${(ev.at).toFixed(1)} s ${ev.kind}${ev.arg === undefined ? '' : ` ${ev.arg}`} (${pool.progress} holds)`);
      if (ev.kind === 'kill') {
        const running = pool.running();
        if (running.length > 0) pool.kill(running[Math.floor(Math.random() * running.length)]);
        f.end = f.at;
      } else if (ev.kind === 'stall') {
        pending.push(
          server.stall(ev.arg).then(() => {
            f.end = now();
          }),
        );
      } else if (ev.kind === 'restart') {
        await server.restart();
        f.end = now();
      } else if (ev.kind === 'blackhole') {
        proxy.blackhole();
        pending.push(
          sleep(ev.arg * 1000).then(() => {
            proxy.heal();
            f.end = now();
          }),
        );
      }
    }
    await Promise.all(pending);
    // A calm stretch: every fault healed, leases of killed workers expire, waiters time out.
    await sleep(quick ? 4000 : 8000);
    await pool.finish();
    const elapsedMs = Date.now() - started;
    // Leases of workers killed late expire after their TTL; a waiter's after its own TTL.
    await sleep(3 * TTL_MS);
    const leases = await RedisLeases.open({ redis: server.url, namespace });
    let view;
    try {
      view = await leases.inspect();
    } finally {
      await leases.close();
    }
    return analyseRedis({ pool, faults, view, totalMiB: TOTAL_MIB, elapsedMs, keys: server.cli('DBSIZE').trim() });
  } finally {
    await pool.finish(5_000);
    await proxy.stop();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { runRedisPart };
