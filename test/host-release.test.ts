// Issue 5, points 6, 7 and 8: E_DOES_NOT_FIT at once; release() idempotent; stale or wrong
// tokens refused with E_NOT_OWNER and counted; fencing tokens increase across processes.
import { afterAll, describe, expect, it } from 'vitest';
import { isGpuArbiterError } from '../src/errors';
import { HostLedger } from '../src/backends/host/ledger';
import { HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';

afterAll(removeTestNamespaces);

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return isGpuArbiterError(err) ? err.code : String(err);
  }
}

describe('host ledger release and ownership', () => {
  it('fails at once with E_DOES_NOT_FIT for a request larger than capacity', async () => {
    const ns = uniqueNamespace('fit');
    const ledger = await HostLedger.open({ namespace: ns, resources: { vram: 24576 } });
    const held = await ledger.acquire('vram', { units: 24576 }); // busy, yet no waiting
    const t0 = performance.now();
    await expect(ledger.acquire('vram', { units: 24577, timeoutMs: 60_000 })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(codeOf(() => ledger.tryAcquire('vram', { units: 30000 }))).toBe('E_DOES_NOT_FIT');
    expect(ledger.inspect().waiters).toEqual([]);
    await held.release();
    await ledger.close();
  });

  it('release() is idempotent', async () => {
    const ns = uniqueNamespace('idempotent');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const g = await ledger.acquire('gpu');
    await g.release();
    await g.release();
    g.releaseSync();
    await g[Symbol.asyncDispose]();
    expect(g.released).toBe(true);
    expect(ledger.ownershipViolations).toBe(0);
    expect(ledger.inspect().ownershipViolations).toBe(0);
    const g2 = await ledger.acquire('gpu');
    await g.release(); // must not release g2
    expect(ledger.inspect().holders).toHaveLength(1);
    await g2.release();
    await ledger.close();
  });

  it('refuses a stale token (slot since reused) with E_NOT_OWNER and counts it', async () => {
    const ns = uniqueNamespace('stale');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const g1 = await ledger.acquire('gpu');
    const stale = g1.token;
    await g1.release();
    const g2 = await ledger.acquire('gpu');
    expect(g2.token.split('.')[0]).toBe(stale.split('.')[0]); // same slot, new token
    expect(codeOf(() => ledger.release(stale))).toBe('E_NOT_OWNER');
    expect(codeOf(() => ledger.release('h0.0123456789abcdef'))).toBe('E_NOT_OWNER'); // forged
    expect(ledger.ownershipViolations).toBe(2);
    expect(ledger.inspect().ownershipViolations).toBe(2);
    expect(ledger.inspect().holders).toHaveLength(1); // g2 untouched
    expect(g2.lost.aborted).toBe(false);
    ledger.release(g2.token); // the right token works, and the grant knows
    expect(g2.released).toBe(true);
    await g2.release();
    expect(ledger.inspect().holders).toEqual([]);
    await ledger.close();
  });

  it('counts refused releases host-wide, across processes', async () => {
    const ns = uniqueNamespace('violations');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const child = new HostChild();
    await child.open(ns, { gpu: 1 });
    const r = await child.send({ cmd: 'acquire', resource: 'gpu' });
    const token = r.token as string;
    // Another process may release with the token (it is the capability)...
    const forged = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
    expect(codeOf(() => ledger.release(forged))).toBe('E_NOT_OWNER');
    expect(ledger.inspect().ownershipViolations).toBe(1);
    ledger.release(token);
    expect(ledger.inspect().holders).toEqual([]);
    child.kill();
    await ledger.close();
  });

  it('hands out strictly increasing fencing tokens per resource across processes', async () => {
    const ns = uniqueNamespace('fence');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1, other: 1 } });
    const child = new HostChild();
    await child.open(ns, { gpu: 1, other: 1 });
    const fences: number[] = [];
    for (let i = 0; i < 20; i++) {
      const g = await ledger.acquire('gpu');
      fences.push(g.fencingToken);
      await g.release();
      const r = await child.send({ cmd: 'acquire', resource: 'gpu', releaseAfterMs: 0 });
      fences.push(Number(r.fence));
      await new Promise((res) => setTimeout(res, 1));
    }
    for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1]);
    expect(Number.isSafeInteger(fences[0])).toBe(true);
    const o = await ledger.acquire('other'); // per resource: its own counter
    expect(o.fencingToken).toBe(1);
    await o.release();
    child.kill();
    await ledger.close();
  });
});
