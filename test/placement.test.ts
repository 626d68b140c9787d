import { describe, expect, it } from 'vitest';
import { place, type PlacementCandidate } from '../src/policy/placement';

const gpu = (index: number, budgetMiB: number, extra: Partial<PlacementCandidate> = {}): PlacementCandidate => ({
  index,
  usable: true,
  capacityMiB: 16000,
  budgetMiB,
  waiting: 0,
  headPriority: null,
  utilizationPercent: 0,
  ...extra,
});

describe('place', () => {
  it('binpack: best fit, the GPU left with the least budget', () => {
    expect(place(4000, 0, [gpu(0, 12000), gpu(1, 5000), gpu(2, 9000)])).toEqual({ kind: 'now', index: 1 });
  });

  it('spread: the GPU left with the most budget', () => {
    expect(place(4000, 0, [gpu(0, 12000), gpu(1, 5000), gpu(2, 9000)], 'spread')).toEqual({ kind: 'now', index: 0 });
  });

  it('breaks budget ties by utilisation, unknown utilisation last, then by index', () => {
    expect(place(1000, 0, [gpu(0, 8000, { utilizationPercent: 70 }), gpu(1, 8000, { utilizationPercent: 10 })])).toEqual({
      kind: 'now',
      index: 1,
    });
    expect(place(1000, 0, [gpu(0, 8000, { utilizationPercent: null }), gpu(1, 8000, { utilizationPercent: 90 })])).toEqual({
      kind: 'now',
      index: 1,
    });
    expect(place(1000, 0, [gpu(3, 8000), gpu(2, 8000)])).toEqual({ kind: 'now', index: 2 });
  });

  it('does not jump a queue of equal or higher priority; does jump a lower one', () => {
    const busyQueue = gpu(0, 8000, { waiting: 2, headPriority: 50 });
    expect(place(1000, 50, [busyQueue])).toEqual({ kind: 'wait', index: 0 });
    expect(place(1000, 51, [busyQueue])).toEqual({ kind: 'now', index: 0 });
    expect(place(1000, 50, [busyQueue, gpu(1, 2000)])).toEqual({ kind: 'now', index: 1 });
  });

  it('waits on the GPU closest to fitting when none fits now', () => {
    expect(place(6000, 0, [gpu(0, 1000), gpu(1, 4000), gpu(2, 3000)])).toEqual({ kind: 'wait', index: 1 });
  });

  it('says does-not-fit when no usable GPU could ever hold it, however free', () => {
    expect(place(20000, 0, [gpu(0, 16000), gpu(1, 16000)])).toEqual({ kind: 'does-not-fit', largestCapacityMiB: 16000 });
  });

  it('never places on an unusable (lost) GPU', () => {
    expect(place(1000, 0, [gpu(0, 16000, { usable: false }), gpu(1, 1500)])).toEqual({ kind: 'now', index: 1 });
    expect(place(1000, 0, [gpu(0, 16000, { usable: false })])).toEqual({ kind: 'no-device' });
    expect(place(1000, 0, [])).toEqual({ kind: 'no-device' });
  });
});
