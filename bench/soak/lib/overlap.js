'use strict';
// The independent overlap detector: it reads no ledger and trusts no backend. It sweeps the
// intervals the workers recorded (their own clocks, CLOCK_MONOTONIC) and checks, per resource,
// that the units held at every instant never exceed the capacity; for a capacity-1 resource that
// is "no two holds overlap". An interval is [start, end): an end and a start at the same
// nanosecond do not overlap (the recorded end is taken before release, the start after grant).

/**
 * @param {Array<{res: string, units: number, start: number, end: number, who: string, fence: number}>} intervals
 * @param {Record<string, number>} capacity units per resource
 * @returns {{ checked: number, violations: number, peak: Record<string, number>, examples: object[] }}
 */
function findOverlaps(intervals, capacity) {
  const byRes = new Map();
  for (const iv of intervals) {
    if (!(iv.end > iv.start)) continue;
    if (!byRes.has(iv.res)) byRes.set(iv.res, []);
    byRes.get(iv.res).push(iv);
  }
  let checked = 0;
  let violations = 0;
  const peak = {};
  const examples = [];
  for (const [res, list] of byRes) {
    const cap = capacity[res];
    if (cap === undefined) throw new Error(`no capacity known for resource ${res}`);
    // Events: [time, kind (0 = end, 1 = start: ends first at equal times), index].
    const ev = new Array(list.length * 2);
    for (let i = 0; i < list.length; i++) {
      ev[2 * i] = [list[i].start, 1, i];
      ev[2 * i + 1] = [list[i].end, 0, i];
    }
    ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const active = new Set();
    let sum = 0;
    let max = 0;
    for (const [time, kind, i] of ev) {
      const iv = list[i];
      if (kind === 0) {
        active.delete(i);
        sum -= iv.units;
        continue;
      }
      checked++;
      sum += iv.units;
      active.add(i);
      if (sum > max) max = sum;
      if (sum > cap) {
        violations++;
        if (examples.length < 10) {
          examples.push({ res, atNs: time, sum, capacity: cap, holds: [...active].map((j) => describe(list[j])) });
        }
      }
    }
    peak[res] = max;
  }
  return { checked, violations, peak, examples };
}

function describe(iv) {
  return { who: iv.who, units: iv.units, fence: iv.fence, start: iv.start, end: iv.end };
}

module.exports = { findOverlaps };
