import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../src/backends/local/backend';
import type { Grant } from '../src/backends/contract';
import type { GrantSink } from '../src/backends/local/queue';

const holder = (leaseId: string) => ({ leaseId, task: 'T', pid: 1 });
const req = (leaseId: string, priority = 0) => ({ resource: 'r', units: 1, priority, holder: holder(leaseId), queueGroup: 'T', queueLimit: 2 });

/** A sink that wraps a grant the way the arbiter makes a Lease of it. */
function sink(log: string[], throwFor?: string): GrantSink<{ grant: Grant }> {
  return {
    granted(grant) {
      log.push(`granted ${grant.holder.leaseId}`);
      if (grant.holder.leaseId === throwFor) throw new Error(`sink failed for ${throwFor}`);
      return { grant };
    },
    failed(err) {
      log.push(`failed ${(err as { code?: string }).code}`);
      return new Error(`mapped: ${(err as Error).message}`);
    },
  };
}

describe('LocalBackend.acquireInto (the arbiter one trip)', () => {
  it('returns the sink value at once when granted now, and a promise of it when queued', async () => {
    const b = new LocalBackend();
    b.setResource('r', { capacity: 1 });
    const log: string[] = [];
    const now = b.acquireInto(req('a'), sink(log));
    expect(now).not.toBeInstanceOf(Promise);
    const later = b.acquireInto(req('b'), sink(log));
    expect(later).toBeInstanceOf(Promise);
    expect(log).toEqual(['granted a']);
    (now as { grant: Grant }).grant.release();
    // Granted inside the release, settled with what the sink made of the grant.
    expect(log).toEqual(['granted a', 'granted b']);
    const v = await later;
    expect(v.grant.holder.leaseId).toBe('b');
    expect(v.grant.fencingToken).toBeGreaterThan((now as { grant: Grant }).grant.fencingToken);
    v.grant.release();
    expect(b.usage('r')).toMatchObject({ declared: 0, waiting: 0 });
  });

  it('throws a full queue unmapped before queueing; a failure after queueing goes through sink.failed', async () => {
    const b = new LocalBackend();
    b.setResource('r', { capacity: 1 });
    const log: string[] = [];
    const held = b.acquireInto(req('a'), sink(log)) as { grant: Grant };
    const w1 = b.acquireInto(req('b'), sink(log)) as Promise<unknown>;
    const ac = new AbortController();
    const w2 = b.acquireInto({ ...req('c'), signal: ac.signal }, sink(log)) as Promise<unknown>;
    expect(() => b.acquireInto(req('d'), sink(log))).toThrow(expect.objectContaining({ code: 'E_QUEUE_FULL' }));
    ac.abort();
    await expect(w2).rejects.toThrow(/^mapped: /);
    expect(log).toEqual(['granted a', 'failed E_ABORTED']);
    held.grant.release();
    expect(((await w1) as { grant: Grant }).grant.holder.leaseId).toBe('b');
  });

  it('a sink that throws on a grant fails that waiter only: the queue goes on to the next', async () => {
    const b = new LocalBackend();
    b.setResource('r', { capacity: 2 });
    const log: string[] = [];
    const held = b.acquireInto({ ...req('a'), units: 2 }, sink(log)) as { grant: Grant };
    const bad = b.acquireInto(req('b'), sink(log, 'b')) as Promise<unknown>;
    const good = b.acquireInto(req('c'), sink(log)) as Promise<{ grant: Grant }>;
    held.grant.release();
    await expect(bad).rejects.toThrow('sink failed for b');
    const g = await good;
    expect(g.grant.holder.leaseId).toBe('c');
    expect(log).toEqual(['granted a', 'granted b', 'granted c']);
    // The grant the sink failed to take is still held (as a then() that threw left it before):
    // the ledger shows it, and it can be released by token.
    const snap = b.inspect().resources[0]!;
    expect(snap.holders.map((h) => h.holder.leaseId).sort()).toEqual(['b', 'c']);
    expect(b.release('r', snap.holders.find((h) => h.holder.leaseId === 'b')!.token)).toBe('released');
  });
});

describe('LocalBackend.acquireInto failures', () => {
  it('a sink whose failed() throws (a throwing timeout listener) rejects the caller with that, nothing escapes the timer', async () => {
    const b = new LocalBackend();
    b.setResource('r', { capacity: 1 });
    const held = b.acquireInto(req('a'), sink([])) as { grant: Grant };
    const throwing: GrantSink<unknown> = {
      granted: (g) => g,
      failed: () => {
        throw new Error('listener broke');
      },
    };
    const waiter = b.acquireInto({ ...req('b'), deadline: Date.now() + 10 }, throwing) as Promise<unknown>;
    await expect(waiter).rejects.toThrow('listener broke');
    expect(b.usage('r')).toMatchObject({ waiting: 0 });
    held.grant.release();
    expect(b.usage('r')).toMatchObject({ declared: 0 });
  });
});
