// Issue 5, point 10: inspect() lists holders (pid, thread, units, priority, since) and waiters;
// the status report (for `gpu-arbiter status`) shows every namespace; namespaces are listed and
// removed.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { HostLedger } from '../src/backends/host/ledger';
import { hostNamespacePath, inspectHostNamespace, listHostNamespaces, removeHostNamespace } from '../src/backends/host/namespaces';
import { formatHostLedgers, hostLedgersToJson, readHostLedgers } from '../src/backends/host/status';
import { FIXTURES, HostChild } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

afterAll(removeTestNamespaces);

describe('host ledger inspect and status', () => {
  it('lists holders and waiters with pid, thread, units, priority and since, host-wide', async () => {
    const ns = uniqueNamespace('inspect');
    const ledger = await HostLedger.open({ namespace: ns, resources: { 'gpu:0': 24576, 'gpu:0:lock': 1, vram: 10 } });
    const before = Date.now();
    const g = await ledger.acquire('gpu:0', { units: 4096, priority: 80 });
    const child = new HostChild();
    await child.open(ns, { 'gpu:0': 24576 });
    const childGrant = child.send({ cmd: 'acquire', resource: 'gpu:0', options: { units: 24000, priority: 30 } });
    await waitUntil(() => ledger.inspect().waiters.length === 1, 5000, 'child waiter');
    // A worker_thread holds 'gpu' (defined by it) and waits for 'vram': its threadId is reported.
    const w = new Worker(path.join(FIXTURES, 'worker-holder.cjs'), { workerData: { ns } });
    w.on('error', () => {});
    const vram = await ledger.acquire('vram', { units: 10 });
    await new Promise((r) => w.once('message', r));

    const s = ledger.inspect();
    expect(s.namespace).toBe(ns);
    expect(s.resources.find((r) => r.name === 'gpu:0')).toMatchObject({ capacity: 24576, used: 4096, waiting: 1, lastFencingToken: 1 });
    const mine = s.holders.find((h) => h.resource === 'gpu:0');
    expect(mine).toMatchObject({ pid: process.pid, thread: 0, units: 4096, priority: 80, fencingToken: 1 });
    expect(mine?.since.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(s.holders.find((h) => h.resource === 'gpu')).toMatchObject({ pid: process.pid, thread: w.threadId });
    const waiters = s.waiters.map((x) => ({ resource: x.resource, pid: x.pid, thread: x.thread, units: x.units, priority: x.priority, position: x.position }));
    expect(waiters).toContainEqual({ resource: 'gpu:0', pid: child.pid, thread: 0, units: 24000, priority: 30, position: 0 });
    expect(waiters).toContainEqual({ resource: 'vram', pid: process.pid, thread: w.threadId, units: 10, priority: 0, position: 0 });
    expect(s.processes.map((p) => p.pid).sort()).toEqual([process.pid, child.pid].sort());

    const text = formatHostLedgers(await readHostLedgers([ns]));
    expect(text).toContain(`host ledger ${ns}: 2 process(es)`);
    expect(text).toContain('gpu:0: 4096/24576 used, 1 waiting');
    expect(text).toContain(`holder pid ${process.pid} thread 0: 4096 unit(s), priority 80`);
    expect(text).toContain(`waiter #0 pid ${child.pid} thread 0: 24000 unit(s), priority 30`);

    await w.terminate();
    await g.release();
    expect((await childGrant).ok).toBe(true);
    await vram.release();
    child.kill();
    await ledger.close();
  });

  it('reads a namespace for status without registering in it, also as JSON', async () => {
    const ns = uniqueNamespace('peek');
    const child = new HostChild();
    await child.open(ns, { 'gpu:1': 8192 });
    expect((await child.send({ cmd: 'acquire', resource: 'gpu:1', options: { units: 1024, priority: 5 } })).ok).toBe(true);
    const s = inspectHostNamespace(ns);
    expect(s.processes.map((p) => p.pid)).toEqual([child.pid]); // we are not in it
    expect(s.holders.map((h) => [h.pid, h.units, h.priority])).toEqual([[child.pid, 1024, 5]]);
    const all = await readHostLedgers();
    const entry = all.find((e) => e.namespace === ns);
    expect(entry && 'status' in entry && entry.status.holders.length).toBe(1);
    const json = hostLedgersToJson([{ namespace: ns, status: s }]) as Array<{ status: { holders: Array<{ fencingToken: number; since: string }> } }>;
    expect(json[0].status.holders[0].fencingToken).toBe(1);
    expect(json[0].status.holders[0].since).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(inspectHostNamespace(ns).processes.map((p) => p.pid)).toEqual([child.pid]);
    // A dead holder is not shown as holding: the read reclaims it.
    child.kill();
    await child.exited;
    expect(inspectHostNamespace(ns).holders).toEqual([]);
    await expect(async () => inspectHostNamespace(uniqueNamespace('absent'))).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    const unreadable = await readHostLedgers([uniqueNamespace('absent2')]);
    expect(formatHostLedgers(unreadable)).toContain('unreadable (E_BACKEND_UNAVAILABLE');
  });

  it('lists namespaces, reads them without creating any, and removes them', async () => {
    const ns = uniqueNamespace('list');
    expect(listHostNamespaces()).not.toContain(ns);
    await expect(HostLedger.open({ namespace: ns, create: false })).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    expect(listHostNamespaces()).not.toContain(ns);
    const ledger = await HostLedger.open({ namespace: ns });
    expect(listHostNamespaces()).toContain(ns);
    expect(hostNamespacePath(ns)).toBe(`/dev/shm/gpu-arbiter-${ns}`);
    await ledger.close();
    expect(removeHostNamespace(ns)).toBe(true);
    expect(removeHostNamespace(ns)).toBe(false);
    expect(listHostNamespaces()).not.toContain(ns);
  });
});
