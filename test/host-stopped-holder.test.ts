// A holder whose process is stopped (SIGSTOP) past its revokeAfterMs (docs/host-ledger.md,
// "Damage and limits"): whoever sweeps the ledger next revokes it. Both cases were found by the
// host soak (bench/soak/host): a status read that swept and granted spun forever inside the
// ledger lock (its ProcessLedger had an unseeded token generator), and a holder that released
// before its notice arrived was told 'revoked' instead of the ledger's 'expired'.
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostLedger } from '../src/backends/host/ledger';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

afterAll(removeTestNamespaces);

const DIST = path.resolve(__dirname, '../dist');

describe('a stopped holder past revokeAfterMs', () => {
  it('a status read in another process revokes it, grants its queued request and returns', async () => {
    const ns = uniqueNamespace('stopped-peek');
    // The stopped process holds `r` and has a second request queued behind it: the status
    // read's sweep revokes the hold and grants the queued request (a new lease token).
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const d = require(${JSON.stringify(DIST)});
         (async () => {
           const a = await d.HostLedger.open({ namespace: ${JSON.stringify(ns)}, resources: { r: 1 } });
           const b = await d.HostLedger.open({ namespace: ${JSON.stringify(ns)}, resources: { r: 1 } });
           await a.acquire('r', { revokeAfterMs: 100 });
           b.acquire('r').catch(() => {});
           process.stdout.write('ready\\n');
           setInterval(() => {}, 1000);
         })();`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      holder.kill('SIGSTOP'); // its own threads cannot sweep first
      await new Promise((r) => setTimeout(r, 300));
      const read = spawnSync(
        process.execPath,
        ['-e', `console.log(JSON.stringify(require(${JSON.stringify(DIST)}).inspectHostNamespace(${JSON.stringify(ns)}).holders.map((h) => h.fencingToken)))`],
        { encoding: 'utf8', timeout: 10_000 },
      );
      expect(read.error).toBeUndefined(); // a hang inside the ledger lock times out (ETIMEDOUT)
      expect(read.status).toBe(0);
      expect(JSON.parse(read.stdout.trim())).toEqual([2]); // the queued request, granted by the read
    } finally {
      holder.kill('SIGKILL');
      await exited;
    }
  });

  it("a holder that releases before its notice arrives is told the ledger's reason, 'expired'", async () => {
    const ns = uniqueNamespace('stopped-reason');
    const ledger = await HostLedger.open({ namespace: ns, resources: { r: 1 } });
    const other = await HostLedger.open({ namespace: ns, resources: { r: 1 } });
    try {
      const grant = await ledger.acquire('r', { revokeAfterMs: 20 });
      // This event loop is blocked past the deadline, as a stopped process is; a sweep (any
      // request, status read or waiter thread of the host) revokes the hold meanwhile.
      const until = Date.now() + 60;
      while (Date.now() < until);
      expect(other.inspect().holders).toEqual([]);
      grant.releaseSync(); // before the notice reached this loop
      expect(grant.lost.aborted).toBe(true);
      expect((grant.lost.reason as { details?: { reason?: string } }).details?.reason).toBe('expired');
      await waitUntil(() => ledger.inspect().ownershipViolations === 0, 1000, 'no violation');
    } finally {
      await other.close();
      await ledger.close();
    }
  });
});
