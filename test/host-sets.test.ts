// All-or-nothing requests on the host ledger (issue 14, part 2): HostLedger.acquireSet() grants
// every resource of a set in one step or none, in every queue's order; real child processes for
// the no-deadlock / no-partial-hold rounds.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HostLedger } from '../src/backends/host/ledger';
import { inspectHostNamespace } from '../src/backends/host/namespaces';
import type { HostLedgerStatus } from '../src/backends/host/view';
import { HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

const ledgers: HostLedger[] = [];
const children: HostChild[] = [];
afterEach(async () => {
  for (const l of ledgers.splice(0)) l.closeSync();
  for (const c of children.splice(0)) {
    c.kill();
    await c.exited;
  }
});
afterAll(() => removeTestNamespaces());

function open(ns: string, resources: Record<string, number> = { a: 1, b: 1, c: 1 }): HostLedger {
  const l = HostLedger.openSync({ namespace: ns, resources });
  ledgers.push(l);
  return l;
}

/** Holders per label: every label of a set must hold on each of its resources, never on fewer. */
function partialSets(st: HostLedgerStatus, size: number): string[] {
  const byLabel = new Map<string, string[]>();
  for (const h of st.holders) if (h.label.startsWith('set ')) byLabel.set(h.label, [...(byLabel.get(h.label) ?? []), h.resource]);
  return [...byLabel].filter(([, rs]) => rs.length !== size).map(([label, rs]) => `${label}: ${rs.join(',')}`);
}

describe('HostLedger.acquireSet: all or nothing', () => {
  it('grants every resource at once when free, in the order asked, each with its own fencing token', async () => {
    const l = open(uniqueNamespace('set'));
    const [b, a] = await l.acquireSet(['b', 'a'], { units: 1, label: 'set x' });
    expect([b!.resource, a!.resource]).toEqual(['b', 'a']);
    expect(
      inspectHostNamespace(l.namespace)
        .holders.map((h) => h.resource)
        .sort(),
    ).toEqual(['a', 'b']);
    b!.releaseSync();
    a!.releaseSync();
    expect(inspectHostNamespace(l.namespace).holders).toEqual([]);
  });

  it('waits with nothing held while one resource is busy, then takes both in one step', async () => {
    const l = open(uniqueNamespace('set'));
    const other = open(l.namespace);
    const held = other.tryAcquire('b')!;
    const set = l.acquireSet(['a', 'b'], { label: 'set y' });
    await waitUntil(() => inspectHostNamespace(l.namespace).waiters.length === 2, 2000, 'one waiter per resource');
    const st = inspectHostNamespace(l.namespace);
    expect(st.holders.map((h) => h.resource)).toEqual(['b']); // 'a' is free, yet not taken alone
    // A later single request for 'a' queues behind the set's member at the head of 'a'.
    expect(other.tryAcquire('a')).toBeNull();
    held.releaseSync();
    const got = await set;
    expect(got.map((g) => g.resource)).toEqual(['a', 'b']);
    expect(inspectHostNamespace(l.namespace).waiters).toEqual([]);
    for (const g of got) g.releaseSync();
  });

  it('a timeout or an abort leaves no member behind; E_DOES_NOT_FIT names the resource; bad sets are refused', async () => {
    const l = open(uniqueNamespace('set'), { a: 1, b: 4 });
    const held = l.tryAcquire('a')!;
    await expect(l.acquireSet(['a', 'b'], { timeoutMs: 50 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    const ac = new AbortController();
    const aborted = l.acquireSet(['b', 'a'], { signal: ac.signal });
    await waitUntil(() => inspectHostNamespace(l.namespace).waiters.length === 2, 2000, 'queued');
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(inspectHostNamespace(l.namespace).waiters).toEqual([]);
    held.releaseSync();
    await expect(l.acquireSet(['a', 'b'], { units: 2 })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT', message: expect.stringContaining('a (capacity 1)') });
    await expect(l.acquireSet(['a'])).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(l.acquireSet(['a', 'a'])).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(l.acquireSet(['a', 'zz'])).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    expect(inspectHostNamespace(l.namespace).holders).toEqual([]);
  });

  it('a set and single requests keep each queue in priority order', async () => {
    const l = open(uniqueNamespace('set'));
    const first = l.tryAcquire('a')!;
    const low = l.acquire('b', { priority: 1, label: 'low' });
    const set = l.acquireSet(['a', 'b'], { priority: 5, label: 'set z' });
    await waitUntil(() => inspectHostNamespace(l.namespace).waiters.length === 2, 2000, 'queued');
    // 'low' took 'b' at once (it was free), so the set waits for both.
    const lowGrant = await low;
    first.releaseSync();
    expect(partialSets(inspectHostNamespace(l.namespace), 2)).toEqual([]);
    lowGrant.releaseSync();
    const got = await set;
    expect(got).toHaveLength(2);
    for (const g of got) g.releaseSync();
  });
});

describe('HostLedger.acquireSet across processes', () => {
  it('two processes each asking for 2 of 2 resources, 1000 rounds each: no deadlock, never a partial hold, fencing strictly increasing', async () => {
    const ns = uniqueNamespace('sets');
    const [p, q] = [new HostChild(), new HostChild()];
    children.push(p, q);
    await Promise.all([p.open(ns, { a: 1, b: 1 }), q.open(ns, { a: 1, b: 1 })]);
    const rounds = 1000;
    const startAt = Date.now() + 200;
    const running = Promise.all([p, q].map((c) => c.send({ cmd: 'setLoop', resources: ['a', 'b'], rounds, startAt })));
    // An observer outside both: every view of the ledger shows whole sets only, one holder per resource.
    let samples = 0;
    const partial: string[] = [];
    let done = false;
    void running.finally(() => {
      done = true;
    });
    while (!done) {
      const st = inspectHostNamespace(ns);
      samples++;
      partial.push(...partialSets(st, 2));
      for (const r of ['a', 'b']) expect(st.holders.filter((h) => h.resource === r).length).toBeLessThanOrEqual(1);
      await new Promise((r) => setImmediate(r));
    }
    const replies = (await running) as unknown as Array<{ ok: boolean; error?: string; rounds: number; fences: number[][] }>;
    for (const r of replies) expect(r, r.error).toMatchObject({ ok: true, rounds });
    expect(partial).toEqual([]);
    // Per resource, the fencing tokens of both processes together are all distinct and each
    // process saw them increase.
    for (const k of [0, 1]) {
      const all = replies.flatMap((r) => r.fences.map((f) => f[k]!));
      expect(new Set(all).size).toBe(2 * rounds);
      for (const r of replies) expect(r.fences.every((f, i) => i === 0 || f[k]! > r.fences[i - 1]![k]!)).toBe(true);
    }
    // They did contend: the other process held between many of one process's rounds.
    const interleaved = replies[0]!.fences.filter((f, i) => i > 0 && f[0]! - replies[0]!.fences[i - 1]![0]! > 1).length;
    expect(interleaved).toBeGreaterThan(rounds / 50);
    console.log(`2 processes x ${rounds} all-or-nothing rounds (${interleaved} interleaved), ${samples} views of the ledger checked`);
    expect(samples).toBeGreaterThan(10);
  }, 120_000);

  it('three processes over three resources, each set overlapping the next (a+b, b+c, c+a): no deadlock, whole sets only', async () => {
    const ns = uniqueNamespace('ring');
    const sets = [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'a'],
    ];
    const procs = sets.map(() => new HostChild());
    children.push(...procs);
    await Promise.all(procs.map((c) => c.open(ns, { a: 1, b: 1, c: 1 })));
    const rounds = 300;
    let done = false;
    const startAt = Date.now() + 200;
    const running = Promise.all(procs.map((c, k) => c.send({ cmd: 'setLoop', resources: sets[k], rounds, startAt }))).finally(() => {
      done = true;
    });
    const partial: string[] = [];
    while (!done) {
      partial.push(...partialSets(inspectHostNamespace(ns), 2));
      await new Promise((r) => setImmediate(r));
    }
    const replies = (await running) as unknown as Array<{ ok: boolean; error?: string; rounds: number }>;
    for (const r of replies) expect(r, r.error).toMatchObject({ ok: true, rounds });
    expect(partial).toEqual([]);
  }, 120_000);
});
