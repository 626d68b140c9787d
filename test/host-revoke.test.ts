// Revocation (docs/design.md "The backend contract": `lost` fires if the backend revokes the hold): any
// process can take a hold away by its token; the units are free at once and the holder's
// process learns it through its waiter thread, which aborts the grant's `lost` signal.
import { afterAll, describe, expect, it } from 'vitest';
import { isGpuArbiterError } from '../src/errors';
import { HostLedger } from '../src/backends/host/ledger';
import { HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

afterAll(removeTestNamespaces);

describe('host ledger revoke', () => {
  it('takes a hold away from another process: units free at once, its lost signal fires there', async () => {
    const ns = uniqueNamespace('revoke-cross');
    const ledger = await HostLedger.open({ namespace: ns, resources: { vram: 10 } });
    const child = new HostChild();
    await child.open(ns, { vram: 10 });
    const r = await child.send({ cmd: 'acquire', resource: 'vram', options: { units: 10 }, key: 'h' });
    const waiting = ledger.acquire('vram', { units: 6, timeoutMs: 5000 });
    expect(ledger.revoke(r.token as string, 'holder-dead')).toBe(true);
    const g = await waiting; // granted from the revoked units
    await waitUntil(() => child.events.some((e) => e.event === 'lost'), 5000, 'child lost event');
    expect(child.events[0]).toMatchObject({ key: 'h', code: 'E_LEASE_LOST', reason: 'holder-dead' });
    expect(ledger.revoke(r.token as string)).toBe(false); // already revoked
    // The child's late release is not an ownership violation.
    expect((await child.send({ cmd: 'release', key: 'h' })).ok).toBe(true);
    expect((await child.send({ cmd: 'inspect' })).violations).toBe(0);
    expect(ledger.inspect().ownershipViolations).toBe(0);
    expect(ledger.inspect().holders.map((h) => h.units)).toEqual([6]);
    await g.release();
    child.kill();
    await ledger.close();
  });

  it('revokes in the same process; release() afterwards is quiet; stale tokens give false', async () => {
    const ns = uniqueNamespace('revoke-local');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const g = await ledger.acquire('gpu');
    const token = g.token;
    expect(ledger.revoke(token)).toBe(true);
    await waitUntil(() => g.lost.aborted, 5000, 'lost');
    expect(isGpuArbiterError(g.lost.reason, 'E_LEASE_LOST')).toBe(true);
    expect((g.lost.reason as { details: { reason: string } }).details.reason).toBe('revoked');
    expect(g.released).toBe(true);
    await g.release();
    const g2 = await ledger.acquire('gpu');
    expect(ledger.revoke(token)).toBe(false);
    expect(ledger.revoke('h0.0123456789abcdef')).toBe(false);
    expect(ledger.ownershipViolations).toBe(0);
    expect(() => ledger.revoke('nope')).toThrow(/Expected a grant token/);
    expect(() => ledger.revoke(g2.token, 'because' as never)).toThrow(/for reason/);
    await g2.release();
    await ledger.close();
  });

  for (const when of ['before', 'after'] as const) {
    it(`a release racing the revoke notice (${when} its waiter thread picked it up) is lost, not a violation`, async () => {
      const ns = uniqueNamespace(`revoke-race-${when}`);
      const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
      const other = await HostLedger.open({ namespace: ns });
      const g = await ledger.acquire('gpu');
      expect(other.revoke(g.token)).toBe(true);
      if (when === 'after') {
        // Block this JS thread: the waiter thread picks the notice up, but cannot deliver it.
        const end = Date.now() + 50;
        while (Date.now() < end);
      }
      await g.release(); // the notice has not reached the grant yet
      expect(g.lost.aborted).toBe(true);
      expect(ledger.ownershipViolations).toBe(0);
      expect(ledger.inspect().ownershipViolations).toBe(0);
      await new Promise((r) => setTimeout(r, 50)); // the notice arrives now: nothing to do
      expect(ledger.inspect().holders).toEqual([]);
      const again = ledger.tryAcquire('gpu');
      expect(again).not.toBeNull();
      again?.releaseSync();
      expect(ledger.ownershipViolations).toBe(0);
      await other.close();
      await ledger.close();
    });
  }

  it('a revoked hold of a process that then dies leaves nothing behind', async () => {
    const ns = uniqueNamespace('revoke-dead');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const child = new HostChild();
    await child.open(ns, { gpu: 1 });
    const r = await child.send({ cmd: 'acquire', resource: 'gpu' });
    child.proc.kill('SIGSTOP'); // cannot pick the notice up
    expect(ledger.revoke(r.token as string)).toBe(true);
    child.kill('SIGKILL');
    await child.exited;
    const s = ledger.inspect();
    expect(s.holders).toEqual([]);
    expect(s.processes.map((p) => p.pid)).toEqual([process.pid]);
    await ledger.close();
  });
});
