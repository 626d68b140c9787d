// Issue 5, point 4: waiting is off the event loop and off libuv's threadpool. 500 pending
// waiters, yet fs.promises.readFile (threadpool) and a 10 ms timer (event loop) complete on time.
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostGrant } from '../src/backends/host/grant';
import { HostLedger } from '../src/backends/host/ledger';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';

afterAll(removeTestNamespaces);

describe('host ledger waiting', () => {
  it('keeps the event loop and the threadpool free with 500 waiters pending', async () => {
    const ns = uniqueNamespace('event-loop');
    const ledger = await HostLedger.open({ namespace: ns, resources: { gpu: 1 } });
    const held = await ledger.acquire('gpu');
    const waiters: Array<Promise<HostGrant>> = [];
    for (let i = 0; i < 500; i++) waiters.push(ledger.acquire('gpu', { timeoutMs: 60_000 }));
    expect(ledger.inspect().waiters).toHaveLength(500);

    // More reads than the threadpool has threads (4): any thread parked in a wait would stall.
    const t0 = performance.now();
    const reads = await Promise.all(Array.from({ length: 8 }, () => fs.promises.readFile(__filename, 'utf8')));
    const readMs = performance.now() - t0;
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, 10));
    const timerMs = performance.now() - t1;
    console.log(`with 500 waiters: 8 readFile in ${readMs.toFixed(1)} ms, 10 ms timer after ${timerMs.toFixed(1)} ms`);
    expect(reads.every((r) => r.includes('500 waiters'))).toBe(true);
    expect(readMs).toBeLessThan(1000);
    expect(timerMs).toBeLessThan(100);

    // Then they all get through, one at a time.
    await held.release();
    for (const w of waiters) await (await w).release();
    expect(ledger.inspect().holders).toEqual([]);
    await ledger.close();
  });
});
