'use strict';
// What the Redis part proves, from the workers' records and the controller's fault log:
// - exclusion in real time among holders whose `lost` has not fired: a hold counts from the
//   grant seen to min(end of work, `lost` fired, SIGKILL), and the units held at any instant
//   never exceed the GPU's capacity (../lib/overlap.js);
// - fencing tokens: unique, increasing per worker, and every token granted after the data-loss
//   restart above every token granted before it (the counter is reseeded from the server clock,
//   docs/design.md, redis: "Fencing tokens");
// - no unexpected error, unhandled rejection or crash in any worker;
// - no holder or waiter left in Redis once every worker exited.
const { readRecords } = require('../lib/record-log');
const { findOverlaps } = require('../lib/overlap');
const { checkFencing } = require('../lib/fencing');
const { distribution } = require('../lib/stats');

const MS = 1e6;

function countBy(list, key) {
  const out = {};
  for (const x of list) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

function analyseRedis({ pool, faults, view, totalMiB, elapsedMs, keys }) {
  const failures = [...pool.failures];
  const holds = [];
  const expected = {};
  const lostReasons = {};
  for (const inst of pool.instances) {
    const who = `w${inst.slot}#${inst.id}/pid ${inst.pid}`;
    const rec = readRecords(inst.file);
    for (const u of rec.unexpected) failures.push(`${who}: ${u}`);
    for (const [k, n] of Object.entries(rec.expected)) expected[k] = (expected[k] ?? 0) + n;
    if (inst.killedAt === null && inst.exit !== null && inst.exit.code === 0 && Object.keys(rec.expected).length === 0 && rec.holds.length === 0) {
      failures.push(`${who}: exited cleanly without a single grant`);
    }
    for (const h of rec.holds) {
      h.who = who;
      h.res = 'gpu';
      let end = h.end ?? inst.killedAt;
      if (end === null) {
        failures.push(`${who}: hold (token ${h.fence}) never ended though the worker exited cleanly`);
        continue;
      }
      if (inst.killedAt !== null) end = Math.min(end, inst.killedAt);
      if (h.lostAt !== null) {
        lostReasons[h.lostReason] = (lostReasons[h.lostReason] ?? 0) + 1;
        end = Math.min(end, h.lostAt);
      }
      h.effEnd = end;
      holds.push(h);
    }
  }
  const overlaps = findOverlaps(
    holds.map((h) => ({ res: h.res, units: h.units, start: h.start, end: h.effEnd, who: h.who, fence: h.fence })),
    { gpu: totalMiB },
  );
  if (overlaps.violations > 0) failures.push(`overlap: ${overlaps.violations} (first: ${JSON.stringify(overlaps.examples[0])})`);
  const fencing = checkFencing(holds, new Set());
  for (const p of fencing.problems.slice(0, 20)) failures.push(`fencing: ${p}`);
  const restart = faults.find((f) => f.kind === 'restart');
  if (restart) {
    const before = holds.filter((h) => h.start < restart.at).reduce((m, h) => Math.max(m, h.fence), -Infinity);
    const after = holds.filter((h) => h.start > restart.end);
    const below = after.filter((h) => !(h.fence > before));
    if (below.length > 0)
      failures.push(`fencing: ${below.length} tokens granted after the data-loss restart are not above ${before} (first ${below[0].fence})`);
  }
  // Lost leases: how long after a fault's start each worker's `lost` fired (for the summary).
  const lostAfterFault = [];
  for (const h of holds) {
    if (h.lostAt === null) continue;
    const f = [...faults].reverse().find((x) => x.at <= h.lostAt);
    if (f) lostAfterFault.push((h.lostAt - f.at) / MS);
  }
  const leaked = { holders: 0, waiters: 0 };
  for (const r of view.resources) {
    leaked.holders += r.holders.length;
    leaked.waiters += r.waiters.length;
  }
  if (leaked.holders + leaked.waiters > 0) failures.push(`leak: ${JSON.stringify(leaked)} in Redis after every worker exited`);
  const capacity = view.resources.map((r) => `${r.resource}=${r.capacity}`).join(', ');
  return {
    failures,
    holds: holds.length,
    elapsedMs,
    perSecond: Math.round(holds.length / (elapsedMs / 1000)),
    overlaps,
    lost: holds.filter((h) => h.lostAt !== null).length,
    lostReasons,
    lostAfterFault: distribution(lostAfterFault),
    expected,
    faults: countBy(faults, (f) => f.kind),
    kills: pool.instances.filter((i) => i.killedAt !== null).length,
    leaked,
    capacity,
    keys,
  };
}

module.exports = { analyseRedis };
