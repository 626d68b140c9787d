// Issue 5, point 9: a worker_thread that exits while holding or waiting has its holds released
// and its waiters removed (env cleanup hooks), and the process keeps working.
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { HostLedger } from '../src/backends/host/ledger';
import { FIXTURES } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace, waitUntil } from './helpers/host-ns';

afterAll(removeTestNamespaces);

describe('host ledger and worker_threads', () => {
  for (const how of ['exit', 'throw', 'terminate'] as const) {
    it(`releases a worker's holds and waiters when it ends by ${how}`, async () => {
      const ns = uniqueNamespace(`worker-${how}`);
      const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1, vram: 10 } });
      const vram = await ledger.acquire('vram', { units: 10 });
      const w = new Worker(path.join(FIXTURES, 'worker-holder.cjs'), { workerData: { ns } });
      w.on('error', () => {});
      await new Promise((r) => w.once('message', r));
      const before = ledger.inspect();
      expect(before.holders.find((h) => h.resource === 'gpu')?.thread).toBe(w.threadId);
      expect(before.waiters.map((x) => [x.resource, x.thread])).toEqual([['vram', w.threadId]]);

      const exited = new Promise((r) => w.once('exit', r));
      if (how === 'terminate') await w.terminate();
      else w.postMessage(how);
      await exited;
      await waitUntil(() => ledger.inspect().holders.length === 1, 5000, 'worker hold released');
      const after = ledger.inspect();
      expect(after.holders.map((h) => h.resource)).toEqual(['vram']);
      expect(after.waiters).toEqual([]);
      const g = await ledger.acquire('gpu', { timeoutMs: 2000 }); // the process keeps working
      await g.release();
      await vram.release();
      await ledger.close();
    });
  }

  it('a process whose workers exit while holding keeps working and exits cleanly', async () => {
    const ns = uniqueNamespace('worker-process');
    const child = fork(path.join(FIXTURES, 'worker-exit-process.cjs'), [ns], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('exit', (c, s) => r([c, s])));
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(out).toContain('worker-exit-process ok');
  });

  it('a process that exits without closing leaves its holds to be reclaimed', async () => {
    const ns = uniqueNamespace('exit-no-close');
    const child = fork(path.join(FIXTURES, 'child.cjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise((r) => child.once('message', r));
    const replies: Array<{ id?: number; ok?: boolean }> = [];
    child.on('message', (m: { id?: number; ok?: boolean }) => replies.push(m));
    child.send({ id: 1, cmd: 'open', ns, resources: { gpu: 1 } });
    await waitUntil(() => replies.some((m) => m.id === 1), 5000, 'open');
    child.send({ id: 2, cmd: 'acquire', resource: 'gpu' });
    await waitUntil(() => replies.some((m) => m.id === 2), 5000, 'acquire');
    expect(replies.map((m) => m.ok)).toEqual([true, true]);
    child.disconnect(); // the fixture exits on disconnect, still holding
    await new Promise((r) => child.on('exit', r));
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    // Reclaimed by liveness when this handle registered (the dead process's robust mutex).
    expect(ledger.inspect().holders).toEqual([]);
    expect(ledger.inspect().reclaimedProcesses).toBe(1);
    const g = ledger.tryAcquire('gpu');
    expect(g).not.toBeNull();
    g?.releaseSync();
    await ledger.close();
  });
});
