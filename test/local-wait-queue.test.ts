import { describe, expect, it } from 'vitest';
import { type Queued, WaitQueue } from '../src/backends/local/wait-queue';

class W implements Queued<W> {
  prevLink: W | null = null;
  nextLink: W | null = null;
  inList = false;
  constructor(
    readonly name: string,
    public eff: number,
    readonly seq: number,
  ) {}
}

let seq = 0;
const w = (name: string, eff: number): W => new W(name, eff, ++seq);
const names = (q: WaitQueue<W>): string[] => q.toArray().map((x) => x.name);

describe('WaitQueue (the local backend wait queue)', () => {
  it('keeps grant order: higher effective priority first, FIFO within a priority', () => {
    const q = new WaitQueue<W>();
    for (const x of [w('a50', 50), w('b90', 90), w('c50', 50), w('d10', 10), w('e90', 90), w('f70', 70)]) q.insert(x);
    expect(names(q)).toEqual(['b90', 'e90', 'f70', 'a50', 'c50', 'd10']);
    expect(q.length).toBe(6);
    expect(q.head?.name).toBe('b90');
    // Iterating while removing (what close() and aging do) visits every waiter once.
    const seen: string[] = [];
    for (const x of q) {
      seen.push(x.name);
      q.remove(x);
    }
    expect(seen).toEqual(['b90', 'e90', 'f70', 'a50', 'c50', 'd10']);
    expect(q.length).toBe(0);
    expect(q.head).toBeNull();
  });

  it('removes the head, the tail or one in the middle, once', () => {
    const q = new WaitQueue<W>();
    const [a, b, c, d] = [w('a', 1), w('b', 1), w('c', 1), w('d', 1)];
    for (const x of [a, b, c, d]) q.insert(x);
    expect(q.remove(b)).toBe(true);
    expect(q.remove(b)).toBe(false);
    expect(names(q)).toEqual(['a', 'c', 'd']);
    expect(q.remove(a)).toBe(true);
    expect(q.head).toBe(c);
    expect(q.remove(d)).toBe(true);
    expect(names(q)).toEqual(['c']);
    // The tail was fixed up: a newcomer lands after c.
    q.insert(w('e', 1));
    expect(names(q)).toEqual(['c', 'e']);
    expect(q.length).toBe(2);
  });

  it('resort() re-orders after effective priorities change (aging), stable by arrival', () => {
    const q = new WaitQueue<W>();
    const [old, mid, young] = [w('old', 10), w('mid', 50), w('young', 50)];
    for (const x of [old, mid, young]) q.insert(x);
    expect(names(q)).toEqual(['mid', 'young', 'old']);
    old.eff = 50; // aged up to the others' level: it arrived first, so it goes first
    q.resort();
    expect(names(q)).toEqual(['old', 'mid', 'young']);
    young.eff = 60;
    q.resort();
    expect(names(q)).toEqual(['young', 'old', 'mid']);
    expect(q.length).toBe(3);
    expect(q.remove(mid)).toBe(true);
    q.insert(w('late', 55));
    expect(names(q)).toEqual(['young', 'late', 'old']);
  });
});
