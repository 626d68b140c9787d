'use strict';
// Fencing-token checks on what the workers saw (no ledger read):
// - unique per resource: no two grants of one resource ever carry the same token;
// - per worker process: its own grants of a resource (made one after another) increase;
// - in real-time order, for resources whose holds never overlap (capacity 1): a hold that
//   started after another's start carries a larger token. (For a semaphore a grant made while
//   another hold is running may be seen later than that hold ends, so seen times do not order
//   grants there and only the first two checks apply.)

/**
 * @param {Array<{res: string, fence: number, start: number, who: string}>} holds every hold seen
 * @param {Set<string>} ordered resources checked in real-time order
 * @param {(h: object) => boolean} [inOrder] holds taking part in the real-time check
 */
function checkFencing(holds, ordered, inOrder = () => true) {
  const problems = [];
  const seen = new Map();
  const lastOf = new Map();
  for (const h of holds) {
    const k = `${h.res}`;
    if (!seen.has(k)) seen.set(k, new Set());
    const set = seen.get(k);
    if (set.has(h.fence)) problems.push(`${h.res}: fencing token ${h.fence} granted twice (again to ${h.who})`);
    set.add(h.fence);
    const wk = `${h.who} ${h.res}`;
    const last = lastOf.get(wk);
    if (last !== undefined && !(h.fence > last)) problems.push(`${h.res}: ${h.who} got token ${h.fence} after ${last}`);
    lastOf.set(wk, h.fence);
  }
  for (const res of ordered) {
    const list = holds.filter((h) => h.res === res && inOrder(h)).sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) {
      if (!(list[i].fence > list[i - 1].fence)) {
        problems.push(`${res}: token ${list[i].fence} (${list[i].who}) started after token ${list[i - 1].fence} (${list[i - 1].who})`);
      }
    }
  }
  const maxFence = {};
  for (const h of holds) maxFence[h.res] = Math.max(maxFence[h.res] ?? -Infinity, h.fence);
  return { problems, maxFence };
}

module.exports = { checkFencing };
