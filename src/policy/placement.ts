// Placement: which GPU a request goes to. A pure function of the figures, so it is tested alone.

/** binpack (default, as Ray): fill the fullest GPU that fits. spread (as HAMi offers): the emptiest. */
export type PlacementStrategy = 'binpack' | 'spread';
export const PlacementStrategies: readonly PlacementStrategy[] = ['binpack', 'spread'];

/** One GPU as placement sees it. */
export interface PlacementCandidate {
  index: number;
  /** False for a lost GPU or one whose memory is unknown: it takes no new grants. */
  usable: boolean;
  /** The most MiB that can ever be granted on it (total * maxFraction). */
  capacityMiB: number;
  /** capacity - declared - unaccounted, now. */
  budgetMiB: number;
  /** Waiters queued on it, and the priority of the first. */
  waiting: number;
  headPriority: number | null;
  /** Kernel-busy percent; null when unknown (sorted after every known value). */
  utilizationPercent: number | null;
}

export type Placement =
  /** Fits now and nobody of equal or higher priority waits there: granted at once. */
  | { kind: 'now'; index: number }
  /** Fits by capacity but not now: wait on this GPU. */
  | { kind: 'wait'; index: number }
  /** Usable GPUs exist, none could ever hold it: E_DOES_NOT_FIT. */
  | { kind: 'does-not-fit'; largestCapacityMiB: number }
  /** No usable GPU at all: E_NO_DEVICE. */
  | { kind: 'no-device' };

const util = (c: PlacementCandidate) => c.utilizationPercent ?? Number.POSITIVE_INFINITY;

/**
 * Picks a GPU for `units` MiB at `priority`.
 * - Among GPUs where it fits now: best fit (least budget left after placing; `spread`: most),
 *   ties by utilisation, then by index.
 * - Where it fits nowhere now: wait on the GPU closest to fitting (largest budget), ties by
 *   shorter queue, then utilisation. (The arbiter may later move the waiter: see rebalance().)
 */
export function place(units: number, priority: number, candidates: readonly PlacementCandidate[], strategy: PlacementStrategy = 'binpack'): Placement {
  let now: PlacementCandidate | null = null;
  let wait: PlacementCandidate | null = null;
  let anyUsable = false;
  let largest = 0;
  for (const c of candidates) {
    if (!c.usable) continue;
    anyUsable = true;
    if (c.capacityMiB > largest) largest = c.capacityMiB;
    if (units > c.capacityMiB) continue;
    const free = c.budgetMiB >= units && (c.waiting === 0 || (c.headPriority !== null && c.headPriority < priority));
    if (free) {
      if (now === null || betterNow(c, now, strategy)) now = c;
    } else if (wait === null || betterWait(c, wait)) {
      wait = c;
    }
  }
  if (now !== null) return { kind: 'now', index: now.index };
  if (wait !== null) return { kind: 'wait', index: wait.index };
  return anyUsable ? { kind: 'does-not-fit', largestCapacityMiB: largest } : { kind: 'no-device' };
}

function betterNow(a: PlacementCandidate, b: PlacementCandidate, strategy: PlacementStrategy): boolean {
  if (a.budgetMiB !== b.budgetMiB) return strategy === 'binpack' ? a.budgetMiB < b.budgetMiB : a.budgetMiB > b.budgetMiB;
  if (util(a) !== util(b)) return util(a) < util(b);
  return a.index < b.index;
}

function betterWait(a: PlacementCandidate, b: PlacementCandidate): boolean {
  if (a.budgetMiB !== b.budgetMiB) return a.budgetMiB > b.budgetMiB;
  if (a.waiting !== b.waiting) return a.waiting < b.waiting;
  if (util(a) !== util(b)) return util(a) < util(b);
  return a.index < b.index;
}

export type SetPlacement =
  /** Every GPU of the set fits now: granted at once (where nobody is ahead). */
  | { kind: 'now'; indices: number[] }
  /** Enough GPUs could hold it, not all now: the set waits on these. */
  | { kind: 'wait'; indices: number[] }
  /** Fewer than `count` usable GPUs could ever hold `units` each: E_DOES_NOT_FIT. */
  | { kind: 'does-not-fit'; largestCapacityMiB: number; fitting: number }
  | { kind: 'no-device' };

/**
 * Picks `count` distinct GPUs for a job that needs `units` MiB on each (all granted together or
 * none; see HostLedger.acquireSet): GPU by GPU by the rule of {@link place}, so a set that fits now
 * is packed (or spread) as single requests are, and one that does not waits on the GPUs closest
 * to fitting. Indices ascending (the order CUDA_VISIBLE_DEVICES lists them).
 */
export function placeSet(
  units: number,
  priority: number,
  count: number,
  candidates: readonly PlacementCandidate[],
  strategy: PlacementStrategy = 'binpack',
): SetPlacement {
  let left = candidates;
  const indices: number[] = [];
  let allNow = true;
  for (let k = 0; k < count; k++) {
    const p = place(units, priority, left, strategy);
    if (p.kind === 'no-device') {
      if (k === 0) return p;
      break;
    }
    if (p.kind === 'does-not-fit') break;
    indices.push(p.index);
    allNow &&= p.kind === 'now';
    left = left.filter((c) => c.index !== p.index);
  }
  if (indices.length < count) {
    const usable = candidates.filter((c) => c.usable);
    if (usable.length === 0) return { kind: 'no-device' };
    return { kind: 'does-not-fit', largestCapacityMiB: Math.max(...usable.map((c) => c.capacityMiB)), fitting: indices.length };
  }
  indices.sort((a, b) => a - b);
  return { kind: allNow ? 'now' : 'wait', indices };
}
