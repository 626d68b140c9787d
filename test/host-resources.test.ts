// Resource state shared host-wide, for memory-aware admission (docs/design.md "Memory-aware
// admission"): units used outside the ledger (`external`), a closed flag (GPU lost), capacity
// changes, usage() figures, and labels shown with holders and waiters.
import { afterAll, describe, expect, it } from 'vitest';
import { isGpuArbiterError } from '../src/errors';
import { HostLedger } from '../src/backends/host/ledger';
import { formatHostLedgers, readHostLedgers } from '../src/backends/host/status';
import { HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

afterAll(removeTestNamespaces);

describe('host ledger resource state', () => {
  it('counts external units against capacity, host-wide, and reschedules when they drop', async () => {
    const ns = uniqueNamespace('external');
    const a = await HostLedger.open({ namespace: ns, resources: { vram: 100 } });
    const b = await HostLedger.open({ namespace: ns }); // another handle: sees a's settings
    a.setResource('vram', { capacity: 100, external: 70 });
    expect(b.tryAcquire('vram', { units: 40 })).toBeNull(); // 70 + 40 > 100
    const g30 = b.tryAcquire('vram', { units: 30 });
    expect(g30).not.toBeNull();
    const waiting = b.acquire('vram', { units: 50 });
    expect(b.usage('vram')).toEqual({ capacity: 100, external: 70, declared: 30, closed: false, waiting: 1, headPriority: 0 });
    a.setResource('vram', { capacity: 100, external: 20 }); // 20 + 30 + 50 = 100: fits now
    const g50 = await waiting;
    expect(b.usage('vram')).toMatchObject({ declared: 80, waiting: 0, headPriority: null });
    // Raising external never takes a hold away; it only blocks new grants.
    a.setResource('vram', { capacity: 100, external: 90 });
    expect(a.inspect().holders).toHaveLength(2);
    expect(b.tryAcquire('vram', { units: 1 })).toBeNull();
    g30?.releaseSync();
    await g50.release();
    await a.close();
    await b.close();
  });

  it('a closed resource grants nothing new; waiters wait and are served when it reopens', async () => {
    const ns = uniqueNamespace('closed-flag');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    ledger.setResource('gpu', { capacity: 1, closed: true });
    expect(ledger.tryAcquire('gpu')).toBeNull();
    const child = new HostChild();
    await child.open(ns, { gpu: 1 });
    const childGrant = child.send({ cmd: 'acquire', resource: 'gpu', options: { priority: 5 } });
    await waitUntil(() => ledger.inspect().waiters.length === 1, 5000, 'child queued');
    expect(ledger.usage('gpu')).toMatchObject({ closed: true, waiting: 1, headPriority: 5 });
    expect(formatHostLedgers(await readHostLedgers([ns]))).toContain('CLOSED');
    ledger.setResource('gpu', { capacity: 1, closed: false });
    expect((await childGrant).ok).toBe(true);
    child.kill();
    await ledger.close();
  });

  it('changes capacity: growing serves waiters, shrinking keeps holders; E_DOES_NOT_FIT follows it', async () => {
    const ns = uniqueNamespace('capacity-change');
    const ledger = await HostLedger.open({ namespace: ns, resources: { vram: 10 } });
    const g8 = await ledger.acquire('vram', { units: 8 });
    const waiting = ledger.acquire('vram', { units: 6 });
    ledger.setResource('vram', { capacity: 14 });
    const g6 = await waiting;
    ledger.setResource('vram', { capacity: 4 }); // below what is held: nobody is revoked
    expect(ledger.inspect().holders).toHaveLength(2);
    expect(ledger.usage('vram')).toMatchObject({ capacity: 4, declared: 14 });
    await expect(ledger.acquire('vram', { units: 5 })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    const small = ledger.acquire('vram', { units: 1 }); // waits until it fits again
    await g8.release();
    await g6.release();
    await (await small).release();
    // open() with another capacity is still refused: only setResource() changes it.
    await expect(HostLedger.open({ namespace: ns, resources: { vram: 10 } })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await ledger.close();
  });

  it('shows labels with holders and waiters across processes', async () => {
    const ns = uniqueNamespace('labels');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const g = await ledger.acquire('gpu', { label: 'ASR lease-17' });
    const child = new HostChild();
    await child.open(ns, { gpu: 1 });
    const childGrant = child.send({ cmd: 'acquire', resource: 'gpu', options: { label: 'TTS lease-3' }, releaseAfterMs: 0 });
    await waitUntil(() => ledger.inspect().waiters.length === 1, 5000, 'child queued');
    const s = ledger.inspect();
    expect(s.holders[0]).toMatchObject({ label: 'ASR lease-17', pid: process.pid });
    expect(s.waiters[0]).toMatchObject({ label: 'TTS lease-3', pid: child.pid });
    const text = formatHostLedgers(await readHostLedgers([ns]));
    expect(text).toContain('ASR lease-17');
    expect(text).toContain('TTS lease-3');
    await g.release();
    expect((await childGrant).ok).toBe(true);
    child.kill();
    await ledger.close();
  });

  it('refuses bad setResource(), usage() and label input', async () => {
    const ns = uniqueNamespace('resource-args');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const bad: Array<[unknown, unknown, string]> = [
      [5, { capacity: 1 }, 'resource'],
      ['gpu', undefined, 'spec'],
      ['gpu', {}, 'spec.capacity'],
      ['gpu', { capacity: 0 }, 'spec.capacity'],
      ['gpu', { capacity: 1, external: -1 }, 'spec.external'],
      ['gpu', { capacity: 1, external: 0.5 }, 'spec.external'],
      ['gpu', { capacity: 1, closed: 'yes' }, 'spec.closed'],
      ['gpu', { capacity: 1, extrenal: 1 }, 'spec.extrenal'],
    ];
    for (const [resource, spec, field] of bad) {
      try {
        ledger.setResource(resource as string, spec as never);
        expect.unreachable(`accepted ${JSON.stringify(spec)}`);
      } catch (err) {
        expect(isGpuArbiterError(err, 'E_INVALID_ARGUMENT')).toBe(true);
        expect((err as Error).message).toContain(field);
      }
    }
    expect(() => ledger.usage('nope')).toThrow(/Expected a resource defined/);
    expect(() => ledger.usage(7 as never)).toThrow(/for resource/);
    for (const label of [7, 'x'.repeat(128), 'tab\there', 'naïve']) {
      await expect(ledger.acquire('gpu', { label: label as string })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    }
    expect(ledger.inspect().holders).toEqual([]);
    await ledger.close();
  });
});
