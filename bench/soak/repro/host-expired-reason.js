'use strict';
// Reproducer (found by the host soak, bench/soak/host/analyse.js): a hold the ledger revoked
// because it outlived `revokeAfterMs` must lose with reason 'expired' (docs/host-ledger.md,
// "Damage and limits"; HostAcquireOptions.revokeAfterMs). When the holder releases it before its
// waiter thread's notice reached JS (a process resumed after SIGSTOP does exactly this), the
// release finds the slot revoked (WAS_REVOKED) and src/backends/host/ledger.ts #afterRelease marks
// the grant lost with reason 'revoked', whatever the ledger's reason was: `lost` says 'revoked'.
// Run: npm run build:ts && node bench/soak/repro/host-expired-reason.js  (exit 1: reproduced)
const { HostLedger, inspectHostNamespace, removeHostNamespace } = require('../../../dist');

async function main() {
  const namespace = `soak-repro-${process.pid}`;
  const ledger = await HostLedger.open({ namespace, resources: { r: 1 } });
  try {
    const grant = await ledger.acquire('r', { revokeAfterMs: 20 });
    // Block this event loop past the deadline, as SIGSTOP would; an inspect sweeps the ledger
    // (as any process's request or waiter thread would) and revokes the hold ('expired').
    const until = Date.now() + 60;
    while (Date.now() < until);
    inspectHostNamespace(namespace);
    // Released before the notice is delivered to this event loop.
    grant.releaseSync();
    const reason = grant.lost.aborted ? grant.lost.reason?.details?.reason : '(not lost)';
    console.log(`lost reason: ${reason} (expected 'expired')`);
    process.exitCode = reason === 'expired' ? 0 : 1;
  } finally {
    await ledger.close();
    removeHostNamespace(namespace);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
