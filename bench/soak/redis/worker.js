'use strict';
// One Redis-soak worker process: a GpuArbiter on Redis (leaseTtlMs 1000) that acquires random
// shares of one simulated 1000 MiB GPU (some the whole GPU), holds each for 1-30 ms of "work" (one in ten 0.3-3 s)
// and releases it, recording what it saw (../lib/record-log.js): grant seen, end of work (before
// release), and the local time `lost` fired. Faults it meets (Redis stalled, gone, black-holed)
// surface as the errors a user would handle (EXPECTED); anything else, an unhandled rejection or
// an uncaught exception is written as unexpected and fails the run. Config: JSON in argv[2].
const { setTimeout: sleep } = require('node:timers/promises');
const { GpuArbiter, SimulatedGpu } = require('../../../dist');
const { startWorker } = require('../lib/worker-start');

const { cfg, log, stopping } = startWorker();
const EXPECTED = new Set(['E_TIMEOUT', 'E_BACKEND_UNAVAILABLE', 'E_LEASE_LOST']);
const counts = {};
const count = (code) => (counts[code] = (counts[code] ?? 0) + 1);

function handle(what, err) {
  if (err && EXPECTED.has(err.code)) count(err.code);
  else log.unexpected(`${what}: ${err?.code ?? ''} ${err?.stack ?? err}`);
}

/** GpuArbiter.create, tried again while Redis is unreachable (a worker respawned during a fault). */
async function createArbiter() {
  for (;;) {
    try {
      return await GpuArbiter.create({
        backend: 'redis',
        redis: cfg.url,
        namespace: cfg.namespace,
        nodeId: 'soak',
        leaseTtlMs: 1000,
        maxFraction: 1,
        monitor: new SimulatedGpu([{ totalMiB: cfg.totalMiB, usedMiB: 0, processes: [], uuid: 'GPU-soak-0' }]),
        policies: { JOB: { priority: 50, vramMiB: 100 } },
      });
    } catch (err) {
      if (err?.code !== 'E_BACKEND_UNAVAILABLE') throw err;
      count(err.code);
      await sleep(100);
    }
  }
}

async function main() {
  const arbiter = await createArbiter();
  arbiter.on('critical-failure', (e) => count(`critical-failure:${e.kind ?? 'unknown'}`));
  arbiter.on('warning', () => count('warning'));
  process.send({ ready: true });
  let done = 0;
  while (!stopping()) {
    // 30% take the whole GPU (exclusive), the rest 1 MiB to 60% of it.
    const units = Math.random() < 0.3 ? cfg.totalMiB : 1 + Math.floor(Math.random() * cfg.totalMiB * 0.6);
    let lease;
    try {
      lease = await arbiter.acquire('JOB', { vramMiB: units, maxWaitMs: 3000 });
    } catch (err) {
      handle('acquire', err);
      await sleep(20);
      continue;
    }
    const fence = lease.fencingToken;
    log.start(0, units, fence);
    const onLost = () => log.lost(0, fence, lease.lost.reason?.details?.reason ?? lease.lost.reason?.code ?? 'unknown');
    if (lease.lost.aborted) onLost();
    else lease.lost.addEventListener('abort', onLost, { once: true });
    // One hold in ten outlasts the faults (0.3-3 s: longer than the TTL and than a stall or a
    // black-hole), so leases are lost while held, not only between holds.
    await sleep(Math.random() < 0.1 ? 300 + Math.random() * 2700 : 1 + Math.random() * 29);
    log.end(0, fence);
    try {
      await lease.release();
    } catch (err) {
      handle('release', err);
    }
    if (++done % 20 === 0) process.send({ done: 20 });
  }
  process.send({ done: done % 20 });
  try {
    await arbiter.close();
  } catch (err) {
    handle('close', err);
  }
  for (const [code, n] of Object.entries(counts)) log.write(`C ${code} ${n}`);
  log.close();
  process.disconnect();
}

main().catch((err) => {
  log.unexpected(`main: ${err?.stack ?? err}`);
  process.exit(5);
});
