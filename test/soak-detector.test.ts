// The soak suite's independent checks (bench/soak/lib/overlap.js, fencing.js, record-log.js):
// what they must flag and what they must accept, on hand-made records, so a soak that reports
// "0 overlaps" is known to be able to report one.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const { findOverlaps } = require('../bench/soak/lib/overlap.js');
const { checkFencing } = require('../bench/soak/lib/fencing.js');
const { RecordLog, readRecords } = require('../bench/soak/lib/record-log.js');

const iv = (res: string, units: number, start: number, end: number, fence = 0, who = 'w') => ({ res, units, start, end, fence, who });

describe('soak overlap detector', () => {
  it('flags two exclusive holds that overlap by one nanosecond, and says which', () => {
    const r = findOverlaps([iv('m', 1, 0, 101, 1, 'a'), iv('m', 1, 100, 200, 2, 'b')], { m: 1 });
    expect(r.violations).toBe(1);
    expect(r.examples[0].holds.map((h: { who: string }) => h.who).sort()).toEqual(['a', 'b']);
  });

  it('accepts a hold that starts at the very nanosecond the previous one ended', () => {
    const r = findOverlaps([iv('m', 1, 0, 100), iv('m', 1, 100, 200), iv('m', 1, 200, 300)], { m: 1 });
    expect(r.violations).toBe(0);
    expect(r.peak.m).toBe(1);
  });

  it('checks units against capacity on a semaphore: fits at the capacity, flags one unit over', () => {
    expect(findOverlaps([iv('v', 60, 0, 10), iv('v', 40, 5, 20)], { v: 100 }).violations).toBe(0);
    const over = findOverlaps([iv('v', 60, 0, 10), iv('v', 40, 5, 20), iv('v', 1, 8, 9)], { v: 100 });
    expect(over.violations).toBe(1);
    expect(over.examples[0].sum).toBe(101);
  });

  it('keeps resources apart and ignores empty intervals (a revoked hold seen after its revoke)', () => {
    const r = findOverlaps([iv('m', 1, 0, 10), iv('n', 1, 0, 10), iv('m', 1, 5, 5)], { m: 1, n: 1 });
    expect(r.violations).toBe(0);
    expect(r.checked).toBe(2);
  });

  it('refuses a resource whose capacity it was not told', () => {
    expect(() => findOverlaps([iv('x', 1, 0, 1)], {})).toThrow(/no capacity/);
  });
});

describe('soak fencing checks', () => {
  const h = (res: string, fence: number, start: number, who: string) => ({ res, fence, start, who });

  it('accepts tokens unique per resource, increasing per process and in start order', () => {
    const r = checkFencing([h('m', 1, 0, 'a'), h('m', 2, 10, 'b'), h('m', 3, 20, 'a'), h('n', 1, 5, 'a')], new Set(['m']));
    expect(r.problems).toEqual([]);
    expect(r.maxFence).toEqual({ m: 3, n: 1 });
  });

  it('flags a token granted twice, a process going backwards, and start order broken', () => {
    expect(checkFencing([h('m', 1, 0, 'a'), h('m', 1, 10, 'b')], new Set()).problems[0]).toMatch(/granted twice/);
    expect(checkFencing([h('v', 5, 0, 'a'), h('v', 4, 10, 'a')], new Set()).problems[0]).toMatch(/a got token 4 after 5/);
    expect(checkFencing([h('m', 5, 0, 'a'), h('m', 4, 10, 'b')], new Set(['m'])).problems[0]).toMatch(/started after token 5/);
  });

  it('leaves holds out of the start-order check when told to', () => {
    const r = checkFencing([h('m', 5, 0, 'a'), h('m', 4, 10, 'b')], new Set(['m']), (x: { who: string }) => x.who !== 'b');
    expect(r.problems).toEqual([]);
  });
});

describe('soak record files', () => {
  it('reads starts, ends, losses, errors and counts back, and drops a torn last line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soak-test-'));
    try {
      const file = path.join(dir, 'w.log');
      const log = new RecordLog(file);
      log.start(0, 1, 7);
      log.lost(0, 7, 'expired');
      log.end(0, 7);
      log.start(1, 300, 2);
      log.unexpected('boom\nwith a newline');
      log.write('C E_TIMEOUT 3');
      log.close();
      fs.appendFileSync(file, 'E 1 2 12');
      const r = readRecords(file);
      expect(r.holds).toHaveLength(2);
      expect(r.holds[0]).toMatchObject({ res: '0', units: 1, fence: 7, lostReason: 'expired' });
      expect(r.holds[0].end).toBeGreaterThanOrEqual(r.holds[0].lostAt);
      expect(r.holds[1]).toMatchObject({ res: '1', units: 300, fence: 2, end: null });
      expect(r.unexpected).toEqual(['boom with a newline']);
      expect(r.expected).toEqual({ E_TIMEOUT: 3 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
