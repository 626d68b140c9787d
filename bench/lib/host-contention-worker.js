// One contending process of bench/host-contention.js: from `startAt` for `durationMs`, take the
// lock, note when we got it (enter) and when we let go (exit), let go at once, repeat. Writes
// "enter exit" lines (CLOCK_MONOTONIC ns: comparable across processes) to `out`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const [kind, target, startAt, durationMs, out] = process.argv.slice(2);

async function makeLock() {
  if (kind === 'host') {
    const { HostLedger } = require('../../dist');
    const ledger = await HostLedger.open({ namespace: target, resources: { lock: 1 } });
    return {
      acquire: () => ledger.acquire('lock'),
      release: (g) => g.releaseSync(),
      close: () => ledger.close(),
    };
  }
  if (kind === 'flock') {
    const flock = require(path.join(__dirname, '..', 'native-flock', 'build', 'flock.node'));
    const fd = flock.open(target);
    return { acquire: () => flock.lock(fd), release: () => flock.unlock(fd), close: () => {} };
  }
  if (kind === 'proper-lockfile') {
    const lockfile = require('proper-lockfile');
    // Its tightest settings: retry every 1 ms (the retry library's floor), stale at its 2 s minimum.
    // (forever: a huge retries count makes the retry library precompute that many timeouts per call.)
    const opts = { realpath: false, stale: 2000, retries: { forever: true, factor: 1, minTimeout: 1, maxTimeout: 1 } };
    return { acquire: () => lockfile.lock(target, opts), release: (unlock) => unlock(), close: () => {} };
  }
  throw new Error(`unknown kind ${kind}`);
}

(async () => {
  const lock = await makeLock();
  if (startAt === 'hold') {
    // Crash mode: take the lock, say so, and wait to be SIGKILLed.
    await lock.acquire();
    process.stdout.write('held\n');
    setInterval(() => {}, 1 << 30);
    return;
  }
  const lines = [];
  while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1));
  const deadline = Number(startAt) + Number(durationMs);
  while (Date.now() < deadline) {
    const h = await lock.acquire();
    const enter = process.hrtime.bigint();
    const exit = process.hrtime.bigint();
    await lock.release(h);
    lines.push(`${enter} ${exit}`);
  }
  fs.writeFileSync(out, `${lines.join('\n')}\n`);
  await lock.close();
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
