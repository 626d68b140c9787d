'use strict';
// Reproducer (found by the host soak, which hung here): a status read of a host ledger
// (`inspectHostNamespace()`, hence `gpu-arbiter status`) that sweeps the ledger and grants a
// waiter spins forever inside the ledger lock, and every process using that ledger then waits.
// Cause (native/host/ledger_open.cc ProcessLedger::Peek): Peek builds a ProcessLedger that never
// seeds `rng_`; its Inspect() -> Sweep() -> ExpireHolds()/ReclaimProc() -> Schedule() ->
// NewHolder() -> NextToken() (native/host/ledger_slots.cc) runs xorshift from 0, which stays 0,
// and `while (t == 0)` never ends. gdb on the hung process: rip in NewHolder's NextToken loop
// with the rng register 0.
// Here: a child holds `r` with revokeAfterMs 100 and has a second request queued behind it; it is
// SIGSTOPped (so its own waiter thread cannot sweep first); after the deadline an inspect in
// another process must return at once. The same happens with a SIGKILLed holder and a waiter.
// Run: npm run build:ts && node bench/soak/repro/host-inspect-hang.js  (exit 1: reproduced)
const { spawn, spawnSync } = require('node:child_process');
const dist = require.resolve('../../../dist');
const { removeHostNamespace } = require(dist);

const namespace = `soak-repro-hang-${process.pid}`;
const holderSrc = `
  const { HostLedger } = require(${JSON.stringify(dist)});
  (async () => {
    const a = await HostLedger.open({ namespace: ${JSON.stringify(namespace)}, resources: { r: 1 } });
    const b = await HostLedger.open({ namespace: ${JSON.stringify(namespace)}, resources: { r: 1 } });
    await a.acquire('r', { revokeAfterMs: 100 });
    b.acquire('r').catch(() => {});
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  })();`;

async function main() {
  const holder = spawn(process.execPath, ['-e', holderSrc], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => holder.stdout.once('data', resolve));
  holder.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 300));
  const inspect = spawnSync(
    process.execPath,
    ['-e', `console.log(JSON.stringify(require(${JSON.stringify(dist)}).inspectHostNamespace(${JSON.stringify(namespace)}).holders.length))`],
    {
      encoding: 'utf8',
      timeout: 5_000,
      killSignal: 'SIGKILL',
    },
  );
  holder.kill('SIGKILL');
  try {
    removeHostNamespace(namespace);
  } catch {
    // gone already
  }
  if (inspect.signal === 'SIGKILL') {
    console.log('inspectHostNamespace() did not return within 5 s (hung inside the ledger lock)');
    process.exitCode = 1;
  } else {
    console.log(`inspectHostNamespace() returned: ${inspect.stdout.trim()} ${inspect.stderr.trim()}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
