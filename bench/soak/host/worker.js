'use strict';
// One host-soak worker process: holds, over and over, either the capacity-1 resource or a
// random share of the VRAM semaphore, through the public HostLedger API, and records what it
// saw in its own file (../lib/record-log.js) for the runner's detector. Config: JSON in argv[2].
// Every hold is taken with revokeAfterMs, so a hold whose process is stopped (SIGSTOP) is
// revoked by the ledger once that old instead of blocking everyone for as long as it is stopped.
const { setImmediate: nextTurn, setTimeout: sleep } = require('node:timers/promises');
const { HostLedger } = require('../../../dist');
const { startWorker } = require('../lib/worker-start');

const { cfg, log, stopping } = startWorker();
const expected = {};

function pick() {
  if (Math.random() < 0.5) return { res: 0, name: cfg.mutex, units: 1 };
  // Random sizes from 1 MiB to 60% of the semaphore: two to many holders at once.
  return { res: 1, name: cfg.vram, units: 1 + Math.floor(Math.random() * cfg.vramCapacity * 0.6) };
}

async function main() {
  const ledger = await HostLedger.open({ namespace: cfg.namespace, resources: { [cfg.mutex]: 1, [cfg.vram]: cfg.vramCapacity } });
  process.send({ ready: true });
  let done = 0;
  while (!stopping()) {
    const p = pick();
    let grant;
    try {
      grant = await ledger.acquire(p.name, { units: p.units, revokeAfterMs: cfg.revokeAfterMs, label: `soak ${cfg.slot}` });
    } catch (err) {
      log.unexpected(`acquire ${p.name}: ${err.code ?? ''} ${err.message}`);
      process.exit(4);
    }
    const fence = grant.fencingToken;
    log.start(p.res, p.units, fence);
    const onLost = () => log.lost(p.res, fence, grant.lost.reason?.details?.reason ?? 'unknown');
    if (grant.lost.aborted) onLost();
    else grant.lost.addEventListener('abort', onLost, { once: true });
    // One hold in eight spans a turn of the event loop (other work runs, the lost notice may
    // land), one in 256 a timer of 5-15 ms (a job's GPU work: the controller's SIGKILL and
    // SIGSTOP aimed at the holder land there); the rest are as short as the ledger allows.
    if ((done & 255) === 0) await sleep(5 + Math.random() * 10);
    else if ((done & 7) === 0) await nextTurn();
    log.end(p.res, fence);
    try {
      grant.releaseSync();
    } catch (err) {
      if (err.code === 'E_LEASE_LOST') expected[err.code] = (expected[err.code] ?? 0) + 1;
      else {
        log.unexpected(`release ${p.name}: ${err.code ?? ''} ${err.message}`);
        process.exit(4);
      }
    }
    if (++done % 500 === 0) process.send({ done: 500 });
  }
  process.send({ done: done % 500 });
  for (const [code, n] of Object.entries(expected)) log.write(`C ${code} ${n}`);
  await ledger.close();
  log.close();
  process.disconnect();
}

main().catch((err) => {
  log.unexpected(`main: ${err?.stack ?? err}`);
  process.exit(5);
});
