'use strict';
// The summary's markdown sections, from the parts' results.
const { fmtDistribution } = require('./lib/stats');

function hostLines(r) {
  return [
    '## Host (HostLedger, 4 processes)',
    '',
    `- holds: ${r.holds} (${r.mutexHolds} of the capacity-1 resource, the rest of a 24576-unit VRAM semaphore with random sizes) in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.perSecond}/s, while a status reader polled the ledger (${r.statusReads} reads)`,
    `- overlap detector (worker records, not the ledger): ${r.overlaps.violations} violations over ${r.overlaps.checked} holds; peak use ${JSON.stringify(r.overlaps.peak)}`,
    `- fencing tokens: checked on ${r.fencingChecked} holds (unique per resource, increasing per process, in start order on the capacity-1 resource)`,
    `- chaos: ${r.kills} SIGKILLs (${r.aimedKills} aimed at the capacity-1 holder), ${r.stops} SIGSTOPs of 0.2-2.5 s; ledger: ${r.ledger.reclaimedProcesses} dead processes reclaimed, ${r.ledger.repairs} repairs, ${r.ledger.ownershipViolations} ownership violations`,
    `- reclaim, SIGKILL of the capacity-1 holder -> next grant seen: ${fmtDistribution(r.reclaim)}${r.reclaimBehindHang.n > 0 ? `; behind a hung status read: ${fmtDistribution(r.reclaimBehindHang)}` : ''}`,
    `- status reads that hung holding the ledger lock (killed after 3 s): ${r.statusHangs}`,
    `- SIGSTOPped capacity-1 holder (revokeAfterMs ${r.revokeAfterMs}), hold start -> next grant: revoked ${fmtDistribution(r.stoppedHolderWait)}; kept (stop ended first) ${fmtDistribution(r.stoppedHolderKept)}`,
    `- holds revoked while stopped: ${r.revoked} (lost with the wrong reason: ${r.wrongReason}); stale window after SIGCONT until \`lost\` fired: ${fmtDistribution(r.staleWindow)}`,
    `- leaks after every worker exited: ${r.leaks.holders} holders, ${r.leaks.waiters} waiters, ${r.leaks.used} units in use`,
  ];
}

function redisLines(r) {
  return [
    '## Redis (GpuArbiter, 4 processes, leaseTtlMs 1000)',
    '',
    `- holds: ${r.holds} of one 1000 MiB GPU (30% whole-GPU, the rest random sizes; one in ten held 0.3-3 s) in ${(r.elapsedMs / 1000).toFixed(1)} s`,
    `- faults: ${JSON.stringify(r.faults)} (stalls by DEBUG SLEEP 0.5/1/2 s, black-hole of worker 0 for 3 s, one restart with data loss)`,
    `- overlap detector (holds end at min(release, lost, SIGKILL)): ${r.overlaps.violations} violations over ${r.overlaps.checked} holds; peak ${JSON.stringify(r.overlaps.peak)}`,
    `- leases lost while held: ${r.lost} ${JSON.stringify(r.lostReasons)}; fault start -> \`lost\` fired: ${fmtDistribution(r.lostAfterFault)}`,
    `- errors the workers handled (by code): ${JSON.stringify(r.expected)}`,
    `- leaks after every worker exited: ${r.leaked.holders} holders, ${r.leaked.waiters} waiters (resource ${r.capacity}; ${r.keys} keys left)`,
  ];
}

function targetedLines(results) {
  return [
    '## Targeted checks (bench/soak/repro/: faults the chaos meets only by chance, run every time)',
    '',
    ...results.map((t) => `- ${t.file}: ${t.outcome}${t.outcome === 'fixed' ? '' : ` (${t.said})`}`),
  ];
}

module.exports = { hostLines, redisLines, targetedLines };
