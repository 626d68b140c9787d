// Issue 5, points 1 and 8: capacity is never exceeded across threads and processes, and fencing
// tokens strictly increase per resource across processes.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostLedger } from '../src/backends/host/ledger';
import { FIXTURES } from './helpers/host-child';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';

interface Hold {
  resource: string;
  units: number;
  enter: bigint;
  exit: bigint;
  fence: number;
  who: string;
}

/** Max units held at once, from enter/exit events (exits first on a tie: the lenient order). */
function maxConcurrent(holds: Hold[]): number {
  const events: Array<[bigint, number]> = [];
  for (const h of holds) events.push([h.enter, h.units], [h.exit, -h.units]);
  events.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  let now = 0;
  let max = 0;
  for (const [, d] of events) {
    now += d;
    max = Math.max(max, now);
  }
  return max;
}

afterAll(removeTestNamespaces);

describe('host ledger capacity', () => {
  it('never grants more than capacity: 4 processes x 2 worker_threads, mutex and weighted', async () => {
    const ns = uniqueNamespace('capacity');
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-cap-'));
    const durationMs = 3000;
    const startAt = Date.now() + 1500;
    const kids = [0, 1, 2, 3].map(() => fork(path.join(FIXTURES, 'hammer.cjs'), [ns, logDir, String(startAt), String(durationMs)], { stdio: 'inherit' }));
    const codes = await Promise.all(kids.map((k) => new Promise<number | null>((r) => k.on('exit', (c) => r(c)))));
    expect(codes).toEqual([0, 0, 0, 0]);

    const holds: Hold[] = [];
    const files = fs.readdirSync(logDir);
    expect(files).toHaveLength(8); // every thread of every process reported
    for (const f of files) {
      for (const line of fs.readFileSync(path.join(logDir, f), 'utf8').trim().split('\n')) {
        const [resource, units, enter, exit, fence] = line.split(' ');
        holds.push({ resource, units: Number(units), enter: BigInt(enter), exit: BigInt(exit), fence: Number(fence), who: f });
      }
    }
    fs.rmSync(logDir, { recursive: true, force: true });
    const mutex = holds.filter((h) => h.resource === 'mutex');
    const weighted = holds.filter((h) => h.resource === 'weighted');
    console.log(
      `capacity hammer: ${mutex.length} mutex holds, ${weighted.length} weighted holds, ` +
        `${new Set(mutex.map((h) => h.who)).size} mutex holders, max concurrent units ${maxConcurrent(weighted)}/6`,
    );
    expect(mutex.length).toBeGreaterThan(100);
    expect(weighted.length).toBeGreaterThan(100);
    expect(new Set(mutex.map((h) => h.who)).size).toBe(8);
    expect(maxConcurrent(mutex)).toBe(1);
    expect(maxConcurrent(weighted)).toBeLessThanOrEqual(6);

    // Fencing: on the mutex, holds ordered by time carry strictly increasing tokens; on both,
    // every token is unique.
    const byTime = [...mutex].sort((a, b) => (a.enter < b.enter ? -1 : 1));
    let violations = 0;
    for (let i = 1; i < byTime.length; i++) if (byTime[i].fence <= byTime[i - 1].fence) violations++;
    expect(violations).toBe(0);
    expect(new Set(mutex.map((h) => h.fence)).size).toBe(mutex.length);
    expect(new Set(weighted.map((h) => h.fence)).size).toBe(weighted.length);

    // Nothing left behind.
    const ledger = await HostLedger.open({ namespace: ns });
    const status = ledger.inspect();
    expect(status.holders).toEqual([]);
    expect(status.waiters).toEqual([]);
    expect(status.resources.map((r) => r.used)).toEqual([0, 0]);
    await ledger.close();
  }, 60_000);
});
