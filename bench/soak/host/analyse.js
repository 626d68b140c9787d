'use strict';
// What the host part proves, from the workers' own records and the controller's signal log:
// - exclusion: ../lib/overlap.js over every hold, where a hold ends at its recorded end, or at
//   the kill time for a worker SIGKILLed while holding it;
// - a hold revoked by the ledger (revokeAfterMs; its `lost` fired with reason 'expired') counts
//   until its process was stopped: from SIGSTOP on the process can do nothing, the ledger revokes
//   at some instant after that which no user-visible event dates, and the detector does not read
//   the ledger. After SIGCONT the process runs with a hold it no longer has until `lost` fires:
//   that "stale window" is measured and covered by the fencing token (a later holder's is
//   larger), as the design says (docs/host-ledger.md, Revocation). A revoked hold whose process
//   was not stopped around it is a failure of the suite's assumptions and is counted as one;
// - fencing tokens (../lib/fencing.js), leaks (the ledger read once every worker exited),
//   reclaim latency (SIGKILL of the capacity-1 holder -> next grant seen).
const { readRecords } = require('../lib/record-log');
const { findOverlaps } = require('../lib/overlap');
const { checkFencing } = require('../lib/fencing');
const { distribution } = require('../lib/stats');

const MS = 1e6;
/** How long after SIGCONT a grant made while stopped may take to be seen (wake-up, event loop). */
const PICKUP_NS = 2000 * MS;

function analyseHost({ pool, kills, stops, status, cfg, elapsedMs, hangs }) {
  const failures = [...pool.failures];
  // A hung status read (bench/soak/repro/host-inspect-hang.js) held the ledger lock: every
  // worker stood still, so what happened during one is told apart below.
  if (hangs.length > 0) {
    failures.push(`${hangs.length} status read(s) (inspectHostNamespace) held the ledger lock for 3 s until killed (bench/soak/repro/host-inspect-hang.js)`);
  }
  const duringHang = (from, to) => hangs.some((h) => h.from <= to && h.to >= from);
  const resName = [cfg.mutex, cfg.vram];
  const capacity = { [cfg.mutex]: 1, [cfg.vram]: cfg.vramCapacity };
  const all = [];
  let revoked = 0;
  let wrongReason = 0;
  const stale = [];
  for (const inst of pool.instances) {
    const who = `w${inst.slot}#${inst.id}/pid ${inst.pid}`;
    const rec = readRecords(inst.file);
    for (const u of rec.unexpected) failures.push(`${who}: ${u}`);
    for (const h of rec.holds) {
      h.who = who;
      h.res = resName[Number(h.res)];
      h.inst = inst;
      if (h.end === null) {
        if (inst.killedAt !== null) h.end = inst.killedAt;
        else {
          failures.push(`${who}: hold of ${h.res} (token ${h.fence}) never ended though the worker exited cleanly`);
          continue;
        }
      }
      h.effEnd = h.end;
      if (h.lostAt !== null) {
        revoked++;
        // Nobody calls revoke() here: every loss is revokeAfterMs expiring. A release that races
        // the notice reports 'revoked' instead (bench/soak/repro/host-expired-reason.js).
        if (h.lostReason !== 'expired') {
          wrongReason++;
          failures.push(`${who}: hold of ${h.res} (token ${h.fence}) expired but lost with reason '${h.lostReason}' (bench/soak/repro/host-expired-reason.js)`);
        }
        const until = Math.min(h.end, h.lostAt);
        const stop = [...inst.stops].reverse().find((x) => x.stop < until);
        if (stop === undefined || stop.cont === null || (stop.stop < h.start && h.start - stop.cont > PICKUP_NS)) {
          const why = duringHang(h.start, until) ? ', its process blocked behind a hung status read' : '';
          failures.push(`${who}: hold of ${h.res} (token ${h.fence}) revoked while its process was not stopped${why}`);
        } else {
          h.effEnd = Math.max(h.start, Math.min(until, stop.stop));
          h.grantedWhileStopped = stop.stop < h.start;
          stale.push((until - Math.max(h.start, stop.cont)) / MS);
        }
      }
      all.push(h);
    }
  }
  const overlaps = findOverlaps(
    all.map((h) => ({ res: h.res, units: h.units, start: h.start, end: h.effEnd, who: h.who, fence: h.fence })),
    capacity,
  );
  const fencing = checkFencing(all, new Set([cfg.mutex]), (h) => !h.grantedWhileStopped);
  for (const p of fencing.problems.slice(0, 20)) failures.push(`fencing: ${p}`);
  if (fencing.problems.length > 20) failures.push(`fencing: ${fencing.problems.length - 20} more`);
  for (const r of status.resources) {
    if (fencing.maxFence[r.name] !== undefined && fencing.maxFence[r.name] > r.lastFencingToken) {
      failures.push(`fencing: ${r.name} token ${fencing.maxFence[r.name]} seen above the ledger's last ${r.lastFencingToken}`);
    }
  }

  // SIGKILL of the capacity-1 holder -> the next holder's grant seen (any process).
  const mutexStarts = all
    .filter((h) => h.res === cfg.mutex)
    .map((h) => h.start)
    .sort((a, b) => a - b);
  const nextStartAfter = (t) => {
    let lo = 0;
    let hi = mutexStarts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (mutexStarts[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return mutexStarts[lo];
  };
  const reclaim = [];
  const reclaimBehindHang = [];
  for (const k of kills) {
    // Held: its process had seen the grant and not ended the work, or the ledger listed it as
    // the holder just before the kill (granted, not yet seen).
    const open = all.find((h) => h.inst === k.inst && h.res === cfg.mutex && h.end === k.inst.killedAt && h.start < k.inst.killedAt);
    if (open === undefined && !k.heldInLedger) continue;
    const next = nextStartAfter(k.inst.killedAt);
    if (next === undefined) continue;
    // A reclaim stuck behind a hung status read measures the hang, not the reclaim.
    if (duringHang(k.inst.killedAt, next)) reclaimBehindHang.push((next - k.inst.killedAt) / MS);
    else reclaim.push((next - k.inst.killedAt) / MS);
  }
  // A stopped capacity-1 holder: its hold's start -> the next holder's grant (bounded by revokeAfterMs).
  const stoppedHolder = [];
  for (const st of stops) {
    const h = all.find((x) => x.inst === st.inst && x.res === cfg.mutex && x.start < st.rec.stop && x.end > st.rec.stop);
    if (h === undefined) continue;
    const next = nextStartAfter(st.rec.stop);
    if (next !== undefined) stoppedHolder.push({ stopMs: st.rec.ms, holdToNextMs: (next - h.start) / MS, revoked: h.lostAt !== null });
  }

  const leaks = {
    holders: status.holders.length,
    waiters: status.waiters.length,
    used: status.resources.reduce((n, r) => n + r.used, 0),
  };
  if (leaks.holders + leaks.waiters + leaks.used > 0) failures.push(`leak: ${JSON.stringify(leaks)} after every worker exited`);
  if (overlaps.violations > 0) failures.push(`overlap: ${overlaps.violations} (first: ${JSON.stringify(overlaps.examples[0])})`);

  return {
    failures,
    holds: all.length,
    mutexHolds: mutexStarts.length,
    elapsedMs,
    perSecond: Math.round(all.length / (elapsedMs / 1000)),
    overlaps,
    kills: kills.length,
    aimedKills: kills.filter((k) => k.aimed).length,
    stops: stops.length,
    revoked,
    wrongReason,
    reclaim: distribution(reclaim),
    reclaimBehindHang: distribution(reclaimBehindHang),
    statusHangs: hangs.length,
    staleWindow: distribution(stale),
    stoppedHolder,
    stoppedHolderWait: distribution(stoppedHolder.filter((x) => x.revoked).map((x) => x.holdToNextMs)),
    stoppedHolderKept: distribution(stoppedHolder.filter((x) => !x.revoked).map((x) => x.holdToNextMs)),
    leaks,
    ledger: { grants: status.grants, reclaimedProcesses: status.reclaimedProcesses, repairs: status.repairs, ownershipViolations: status.ownershipViolations },
    fencingChecked: all.length,
    revokeAfterMs: cfg.revokeAfterMs,
  };
}

module.exports = { analyseHost };
