import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../src/backends/local/backend';
import { HolderSet } from '../src/backends/local/holder-set';

class G {
  prevLink: G | null = null;
  nextLink: G | null = null;
  inList = false;
  constructor(readonly name: string) {}
}

describe('HolderSet (one resource holders in the local backend)', () => {
  it('adds, removes once and iterates whatever mix of the solo slot and the list it uses', () => {
    const h = new HolderSet<G>();
    const [a, b, c] = [new G('a'), new G('b'), new G('c')];
    h.add(a); // the slot
    h.add(b); // the list
    h.add(c);
    expect(h.size).toBe(3);
    expect(h.remove(a)).toBe(true);
    expect(h.remove(a)).toBe(false);
    const d = new G('d');
    h.add(d); // the slot again
    expect(
      h
        .toArray()
        .map((g) => g.name)
        .sort(),
    ).toEqual(['b', 'c', 'd']);
    // Removing while iterating (what close() does) visits each once.
    const seen: string[] = [];
    for (const g of h) {
      seen.push(g.name);
      expect(h.remove(g)).toBe(true);
    }
    expect(seen.sort()).toEqual(['b', 'c', 'd']);
    expect(h.size).toBe(0);
    expect(h.remove(b)).toBe(false);
  });

  it('inspect() still lists a resource holders in grant order', async () => {
    const b = new LocalBackend();
    b.setResource('r', { capacity: 3 });
    const holder = (leaseId: string) => ({ leaseId, task: 'T', pid: 1 });
    const g1 = await b.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('one') });
    await b.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('two') });
    g1.release(); // frees the solo slot: the next grant takes it
    await b.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('three') });
    await b.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('four') });
    const holders = b.inspect().resources[0]!.holders;
    expect(holders.map((h) => h.holder.leaseId)).toEqual(['two', 'three', 'four']);
    expect(holders.map((h) => h.fencingToken)).toEqual([2, 3, 4]);
  });
});
