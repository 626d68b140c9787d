// One trip down to the ledger (issue 12): HostBackend.acquireOrQueue() validates a request once
// and makes one native call - granted inline (the Grant itself, synchronously) or queued (a
// promise) - honouring deadline, abort and queueLimit as acquire() does. resourceView() copies one
// resource natively and answers what inspect() has for it. The status codes come from the addon.
import { afterEach, describe, expect, it } from 'vitest';
import type { AcquireRequest, Grant } from '../src/backends/contract';
import { HostBackend } from '../src/backends/host/backend';
import type { HostLedger } from '../src/backends/host/ledger';
import { backendLedger, rawHandle } from '../src/backends/host/test-hooks';
import { isGpuArbiterError } from '../src/errors';
import { addon } from '../src/native/addon';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';

afterEach(() => removeTestNamespaces());

const open: HostBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

function backend(ns = uniqueNamespace('trip')): HostBackend {
  const b = new HostBackend({ namespace: ns });
  open.push(b);
  return b;
}

let seq = 0;
function req(resource: string, units: number, extra: Partial<AcquireRequest> = {}): AcquireRequest {
  return { resource, units, priority: 0, holder: { leaseId: `L${++seq}`, task: 'T', pid: process.pid }, ...extra };
}

/** Records every call the ledger makes on its raw addon handle from now on. */
function recordNativeCalls(ledger: HostLedger): Array<{ method: string; args: unknown[] }> {
  const raw = rawHandle(ledger) as unknown as Record<string, unknown>;
  const proto = Object.getPrototypeOf(raw) as Record<string, unknown>;
  const calls: Array<{ method: string; args: unknown[] }> = [];
  for (const method of Object.getOwnPropertyNames(proto)) {
    const fn = proto[method];
    if (method === 'constructor' || typeof fn !== 'function') continue;
    // The addon's methods are read-only on the prototype: define an own property over each.
    Object.defineProperty(raw, method, {
      configurable: true,
      value(this: unknown, ...args: unknown[]) {
        calls.push({ method, args });
        return (fn as (...a: unknown[]) => unknown).apply(this, args);
      },
    });
  }
  return calls;
}

function syncError(fn: () => unknown): string {
  try {
    const r = fn();
    return r instanceof Promise ? 'a promise' : 'no error';
  } catch (err) {
    return isGpuArbiterError(err) ? err.code : `not a GpuArbiterError: ${String(err)}`;
  }
}

describe('HostBackend.acquireOrQueue', () => {
  it('grants synchronously when free: the Grant itself, not a promise', () => {
    const b = backend();
    b.setResource('r', { capacity: 4 });
    const g = b.acquireOrQueue(req('r', 3));
    expect(g).not.toBeInstanceOf(Promise);
    const grant = g as Grant;
    expect(grant).toMatchObject({ resource: 'r', units: 3, waitedMs: 0 });
    expect(b.usage('r')).toMatchObject({ declared: 3, waiting: 0 });
    expect(grant.release()).toBe(true);
    expect(b.usage('r')!.declared).toBe(0);
  });

  it('an uncontended request makes exactly one native ledger call (acquire, queue=true)', () => {
    const b = backend();
    b.setResource('r', { capacity: 1 });
    const calls = recordNativeCalls(backendLedger(b));
    const g = b.acquireOrQueue(req('r', 1)) as Grant;
    expect(calls.map((c) => c.method)).toEqual(['acquire']);
    expect(calls[0]!.args[3]).toBe(true); // may queue: granted inline all the same
    calls.length = 0;
    g.release();
    expect(calls.map((c) => c.method)).toEqual(['release']);
    calls.length = 0;
    // acquire() takes the same single trip.
    const p = b.acquire(req('r', 1));
    expect(calls.map((c) => c.method)).toEqual(['acquire']);
    return p.then((g2) => g2.release());
  });

  it('queues when busy: a promise, settled by the release of the holder', async () => {
    const ns = uniqueNamespace('trip2');
    const a = backend(ns);
    const b = backend(ns);
    a.setResource('r', { capacity: 1 });
    const held = a.acquireOrQueue(req('r', 1)) as Grant;
    const calls = recordNativeCalls(backendLedger(b));
    const queued = b.acquireOrQueue(req('r', 1, { priority: 5 }));
    expect(queued).toBeInstanceOf(Promise);
    // b had not seen 'r' yet (findResource); ref keeps the event loop alive while it waits (no ledger call).
    expect(calls.map((c) => c.method)).toEqual(['findResource', 'acquire', 'ref']);
    expect(b.usage('r')).toMatchObject({ waiting: 1, headPriority: 5 });
    held.release();
    const g = await queued;
    expect(g).toMatchObject({ resource: 'r', units: 1 });
    expect(g.fencingToken).toBeGreaterThan(held.fencingToken);
    expect(g.release()).toBe(true);
  });

  it('honours the deadline like acquire(): passed and busy throws E_TIMEOUT at once; later rejects and leaves no waiter', async () => {
    const b = backend();
    b.setResource('r', { capacity: 1 });
    const held = b.acquireOrQueue(req('r', 1)) as Grant;
    expect(syncError(() => b.acquireOrQueue(req('r', 1, { deadline: Date.now() })))).toBe('E_TIMEOUT');
    expect(b.usage('r')!.waiting).toBe(0);
    const late = b.acquireOrQueue(req('r', 1, { deadline: Date.now() + 30 }));
    expect(late).toBeInstanceOf(Promise);
    expect(b.usage('r')!.waiting).toBe(1);
    await expect(late).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    expect(b.usage('r')!.waiting).toBe(0);
    held.release();
    // A passed deadline on a free resource is "try once": granted.
    const once = b.acquireOrQueue(req('r', 1, { deadline: Date.now() - 1 }));
    expect(once).not.toBeInstanceOf(Promise);
    (once as Grant).release();
  });

  it('honours abort like acquire(): already aborted throws E_ABORTED; aborting a waiter rejects and leaves no waiter', async () => {
    const b = backend();
    b.setResource('r', { capacity: 1 });
    const aborted = new AbortController();
    aborted.abort(new Error('gone'));
    expect(syncError(() => b.acquireOrQueue(req('r', 1, { signal: aborted.signal })))).toBe('E_ABORTED');
    const held = b.acquireOrQueue(req('r', 1)) as Grant;
    const ac = new AbortController();
    const waiter = b.acquireOrQueue(req('r', 1, { signal: ac.signal }));
    expect(b.usage('r')!.waiting).toBe(1);
    ac.abort(new Error('stop'));
    await expect(waiter).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(b.usage('r')!.waiting).toBe(0);
    held.release();
    expect(b.usage('r')!.declared).toBe(0);
  });

  it('honours queueLimit like acquire(): a full group throws E_QUEUE_FULL when busy, is granted when free', async () => {
    const b = backend();
    b.setResource('r', { capacity: 1 });
    const limited = (id: string) => req('r', 1, { queueGroup: 'A', queueLimit: 1, holder: { leaseId: id, task: 'A', pid: process.pid } });
    const held = b.acquireOrQueue(limited('L0')) as Grant; // granted inline: not counted as a waiter
    const w1 = b.acquireOrQueue(limited('L1'));
    expect(w1).toBeInstanceOf(Promise);
    expect(syncError(() => b.acquireOrQueue(limited('L2')))).toBe('E_QUEUE_FULL');
    await expect(b.acquire(limited('L3'))).rejects.toMatchObject({ code: 'E_QUEUE_FULL' });
    expect(b.usage('r')!.waiting).toBe(1);
    held.release();
    const g1 = await w1;
    g1.release();
    // queueLimit 0: never queues, but a free resource is still granted.
    const g = b.acquireOrQueue(req('r', 1, { queueGroup: 'A', queueLimit: 0 }));
    expect(g).not.toBeInstanceOf(Promise);
    (g as Grant).release();
  });

  it('throws what can never be granted synchronously: E_DOES_NOT_FIT, E_INVALID_ARGUMENT, E_CLOSED', async () => {
    const b = backend();
    b.setResource('r', { capacity: 2 });
    expect(syncError(() => b.acquireOrQueue(req('r', 3)))).toBe('E_DOES_NOT_FIT');
    expect(syncError(() => b.acquireOrQueue(req('never-defined', 1)))).toBe('E_INVALID_ARGUMENT');
    expect(syncError(() => b.acquireOrQueue(req('has space', 1)))).toBe('E_INVALID_ARGUMENT');
    expect(syncError(() => b.acquireOrQueue(req('r', 0)))).toBe('E_INVALID_ARGUMENT');
    expect(syncError(() => b.acquireOrQueue(req('r', 1, { priority: 2e6 })))).toBe('E_INVALID_ARGUMENT');
    await b.close();
    expect(syncError(() => b.acquireOrQueue(req('r', 1)))).toBe('E_CLOSED');
  });
});

describe('HostBackend.resourceView', () => {
  it('answers what inspect() has for the resource, from one native copy of that resource alone', async () => {
    const ns = uniqueNamespace('view');
    const [a, b] = [backend(ns), backend(ns)];
    a.setResource('r', { capacity: 4 });
    a.setResource('other', { capacity: 1 });
    const mine = a.acquireOrQueue(req('r', 2)) as Grant;
    const theirs = b.acquireOrQueue(req('r', 1)) as Grant;
    const elsewhere = a.acquireOrQueue(req('other', 1)) as Grant;
    const w1 = a.acquireOrQueue(req('r', 3, { priority: 1, deadline: Date.now() + 60_000 }));
    const w2 = b.acquireOrQueue(req('r', 2, { priority: 9 }));
    const w3 = a.acquireOrQueue(req('other', 1));

    const calls = recordNativeCalls(backendLedger(a));
    const view = a.resourceView('r');
    expect(calls.map((c) => c.method)).toEqual(['inspectResource']);
    expect(view).toEqual(a.inspect().resources.find((r) => r.resource === 'r'));
    expect(view!.holders.map((h) => h.token)).toEqual(expect.arrayContaining([mine.token, '']));
    expect(view!.waiters.map((w) => [w.position, w.priority, w.deadline === null])).toEqual([
      [0, 9, true],
      [1, 1, false],
    ]);
    expect(a.resourceView('other')).toEqual(a.inspect().resources.find((r) => r.resource === 'other'));
    expect(b.resourceView('r')).toEqual(b.inspect().resources.find((r) => r.resource === 'r'));

    // Natively: the holders and waiters of that resource only.
    const raw = rawHandle(backendLedger(a)).inspectResource(0);
    expect(raw.resources.map((r) => r.name)).toEqual(['r']);
    expect(new Set([...raw.holders, ...raw.waiters].map((x) => x.resource))).toEqual(new Set(['r']));

    for (const g of [mine, theirs, elsewhere]) g.release();
    for (const w of [w2, w1, w3]) (await w).release();
    expect(a.resourceView('r')).toMatchObject({ declared: 0, holders: [], waiters: [] });
  });

  it('is null for a resource never defined, and once closed', async () => {
    const b = backend();
    b.setResource('r', { capacity: 1 });
    expect(b.resourceView('never')).toBeNull();
    expect(b.resourceView('not a name')).toBeNull();
    expect(rawHandle(backendLedger(b)).inspectResource(63)).toEqual({ resources: [], holders: [], waiters: [] });
    await b.close();
    expect(b.resourceView('r')).toBeNull();
  });
});

describe('HostBackend shares its ledger', () => {
  it('says so, and names GPUs by UUID where known', () => {
    const b = backend();
    expect(b.shared).toBe(true);
    expect(b.gpuResource({ index: 1, uuid: 'GPU-1234abcd' })).toBe('gpu:GPU-1234abcd');
    expect(b.gpuResource({ index: 1, uuid: null })).toBe('gpu:1');
  });
});

describe('host ledger status codes', () => {
  it('come from the addon, frozen, one number per name', () => {
    const { codes } = addon().host;
    expect(Object.isFrozen(codes)).toBe(true);
    for (const group of Object.values(codes)) {
      expect(Object.isFrozen(group)).toBe(true);
      const values = Object.values(group as Record<string, number>);
      expect(new Set(values).size).toBe(values.length);
    }
    expect(Object.keys(codes.acquire)).toEqual(['GRANTED', 'QUEUED', 'BUSY', 'DOES_NOT_FIT', 'TABLE_FULL', 'UNKNOWN_RESOURCE']);
    expect(Object.keys(codes.lostReason)).toEqual(['revoked', 'expired', 'holder-dead', 'backend-closed']);
    expect(Object.values(codes.lostReason)).not.toContain(0); // 0 is "a grant" in onGrant
  });
});
