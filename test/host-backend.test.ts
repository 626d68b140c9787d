// The host backend (src/backends/host/backend.ts) against the shared backend contract, plus what is
// specific to it: holder labels across handles, release-by-token answers, per-process queueLimit.
import { afterEach, describe, expect, it } from 'vitest';
import { HostBackend } from '../src/backends/host/backend';
import { holderLabel, parseHolderLabel } from '../src/backends/host/labels';
import { HostLedger } from '../src/backends/host/ledger';
import { backendContract } from './helpers/backend-contract';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';

afterEach(() => removeTestNamespaces());

backendContract('host', { create: () => new HostBackend({ namespace: uniqueNamespace('hb') }) });

const holder = (leaseId: string, task = 'T', pid = process.pid) => ({ leaseId, task, pid });

describe('HostBackend specifics', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });
  function pair(): [HostBackend, HostBackend] {
    const ns = uniqueNamespace('hb2');
    const a = new HostBackend({ namespace: ns });
    const b = new HostBackend({ namespace: ns });
    open.push(a, b);
    return [a, b];
  }

  it('labels carry holder info; long or non-ASCII parts are cut to what the ledger keeps', () => {
    expect(holderLabel(holder('L7', 'ASR', 123))).toBe('123 L7 ASR');
    expect(parseHolderLabel('123 L7 ASR repair', 9)).toEqual({ pid: 123, leaseId: 'L7', task: 'ASR repair' });
    expect(parseHolderLabel('raw label', 9)).toEqual({ leaseId: '', task: 'raw label', pid: 9 });
    const long = holderLabel(holder('L1', `Ü${'x'.repeat(140)}`, 5));
    expect(long).toHaveLength(127);
    expect(long.startsWith('5 L1 ?xx')).toBe(true);
    // The job's label follows " // " (cut first when too long); a task's own " // " cannot start it.
    const job = holderLabel({ leaseId: 'L2', task: 'A // B', pid: 6, label: 'job=42 stage=ocr' });
    expect(job).toBe('6 L2 A / B // job=42 stage=ocr');
    expect(parseHolderLabel(job, 1)).toEqual({ pid: 6, leaseId: 'L2', task: 'A / B', label: 'job=42 stage=ocr' });
    expect(holderLabel({ leaseId: 'L3', task: 'T', pid: 7, label: 'x'.repeat(200) })).toBe(`7 L3 T // ${'x'.repeat(127 - 10)}`);
  });

  it('two handles share capacity and queue; inspect() shows the other handle holder from its label', async () => {
    const [a, b] = pair();
    a.setResource('gpu:x', { capacity: 6144 });
    const ga = await a.acquire({ resource: 'gpu:x', units: 4096, priority: 0, holder: holder('L1', 'ASR', 4242) });
    expect(b.usage('gpu:x')).toMatchObject({ capacity: 6144, declared: 4096, waiting: 0 });
    expect(b.tryAcquire({ resource: 'gpu:x', units: 4096, priority: 0, holder: holder('L1', 'TTS') })).toBeNull();
    const pb = b.acquire({ resource: 'gpu:x', units: 4096, priority: 0, holder: holder('L1', 'TTS') });
    const viewB = b.inspect().resources.find((r) => r.resource === 'gpu:x')!;
    expect(viewB.holders).toEqual([
      { token: '', fencingToken: ga.fencingToken, units: 4096, grantedAt: expect.any(Number), holder: { leaseId: 'L1', task: 'ASR', pid: 4242 } },
    ]);
    expect(viewB.waiters[0]).toMatchObject({ position: 0, units: 4096, holder: { task: 'TTS', pid: process.pid } });
    const viewA = a.inspect().resources.find((r) => r.resource === 'gpu:x')!;
    expect(viewA.holders[0]!.token).toBe(ga.token);
    ga.release();
    const gb = await pb;
    expect(gb.fencingToken).toBeGreaterThan(ga.fencingToken);
    gb.release();
  });

  it('release by token: another handle may release with it; stale and forged ones are answered, not thrown', async () => {
    const [a, b] = pair();
    a.setResource('r', { capacity: 1 });
    const g = await a.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('L1') });
    expect(b.release('r', g.token)).toBe('released');
    expect(a.usage('r')!.declared).toBe(0);
    expect(b.release('r', g.token)).toBe('not-owner'); // b cannot tell stale from forged
    expect(b.inspect().ownershipViolations).toBe(1);
    const g2 = await a.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('L2') });
    expect(a.release('other', g2.token)).toBe('not-owner');
    expect(a.release('r', g2.token)).toBe('released');
    expect(a.release('r', g2.token)).toBe('already-released');
    expect(a.inspect().ownershipViolations).toBe(1);
  });

  it('revoke from another handle aborts lost and calls onLost once', async () => {
    const [a, b] = pair();
    a.setResource('r', { capacity: 1 });
    const lost: string[] = [];
    const g = await a.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('L1'), onLost: (reason, h) => lost.push(`${reason}:${h.leaseId}`) });
    expect(b.revoke('r', g.token)).toBe(true);
    await new Promise<void>((resolve) => (g.lost.aborted ? resolve() : g.lost.addEventListener('abort', () => resolve())));
    expect(lost).toEqual(['revoked:L1']);
    expect(g.release()).toBe(false);
    expect(b.revoke('r', g.token)).toBe(false);
    expect(lost).toHaveLength(1);
  });

  it('a release racing another handle revoke: nothing given back twice, onLost once, release() false', async () => {
    const [a, b] = pair();
    a.setResource('r', { capacity: 1 });
    const lost: string[] = [];
    const g = await a.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('L1'), onLost: (reason) => lost.push(reason) });
    expect(b.revoke('r', g.token)).toBe(true);
    expect(g.release()).toBe(false); // before the notice reached this handle
    expect(g.lost.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 20)); // the notice arrives and is ignored
    expect(lost).toEqual(['revoked']);
    expect(a.usage('r')!.declared).toBe(0);
    expect(a.inspect().ownershipViolations).toBe(0);
    (await b.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('L2') })).release();
  });

  it('queueLimit counts this process waiters only (documented): another handle queues freely', async () => {
    const [a, b] = pair();
    a.setResource('r', { capacity: 1 });
    const held = await a.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('L0') });
    const req = (id: string) => ({ resource: 'r', units: 1, priority: 0, holder: holder(id), queueGroup: 'A', queueLimit: 1 });
    const w1 = a.acquire(req('L1'));
    await expect(a.acquire(req('L2'))).rejects.toMatchObject({ code: 'E_QUEUE_FULL' });
    const w2 = b.acquire(req('L3'));
    expect(a.usage('r')!.waiting).toBe(2);
    held.release();
    (await w1).release();
    (await w2).release();
  });

  it('a capacity of 0 (nothing known yet) is kept closed; fractional figures are rounded safely', async () => {
    const ns = uniqueNamespace('hb3');
    const a = new HostBackend({ namespace: ns });
    open.push(a);
    a.setResource('r', { capacity: 0, closed: true });
    expect(a.usage('r')).toMatchObject({ capacity: 1, closed: true });
    a.setResource('r', { capacity: 10.7, external: 2.2 });
    expect(a.usage('r')).toMatchObject({ capacity: 10, external: 3, closed: false });
    expect(a.usage('never')).toBeNull();
    expect(() => new HostBackend({ namespace: '../x' })).toThrow(/options\.namespace/);
    const raw = await HostLedger.open({ namespace: ns });
    open.push(raw);
    const g = raw.tryAcquire('r', { units: 2, label: 'by hand' })!;
    expect(a.inspect().resources[0]!.holders[0]!.holder).toEqual({ leaseId: '', task: 'by hand', pid: process.pid });
    g.releaseSync();
  });
});
