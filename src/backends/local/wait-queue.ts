// One resource's wait queue: a doubly linked list threaded through the waiters themselves, kept
// in grant order (effective priority descending, then arrival ascending). An array queue paid
// for shift() on every grant and splice()/indexOf() on every enqueue and removal: with 100
// waiters the shift alone measured as a third of the contended acquire+release
// (bench/local-contention.js). Here the head is taken, and any waiter removed, in O(1);
// inserting walks back from the tail only past lower priorities (O(1) when all are equal).

/** What a waiter carries to sit in a {@link WaitQueue}. */
export interface Queued<T> {
  /** Effective priority (aging raises it); the queue's order. */
  eff: number;
  /** Arrival order: FIFO within one effective priority. */
  readonly seq: number;
  prevLink: T | null;
  nextLink: T | null;
  inList: boolean;
}

export class WaitQueue<T extends Queued<T>> {
  head: T | null = null;
  private tail: T | null = null;
  length = 0;

  /** Inserts after the last waiter of the same or higher effective priority. */
  insert(w: T): void {
    let after = this.tail;
    while (after !== null && after.eff < w.eff) after = after.prevLink;
    w.prevLink = after;
    const before = after === null ? this.head : after.nextLink;
    w.nextLink = before;
    if (after === null) this.head = w;
    else after.nextLink = w;
    if (before === null) this.tail = w;
    else before.prevLink = w;
    w.inList = true;
    this.length++;
  }

  /** Takes `w` out; false if it was not queued. */
  remove(w: T): boolean {
    if (!w.inList) return false;
    const { prevLink: p, nextLink: n } = w;
    if (p === null) this.head = n;
    else p.nextLink = n;
    if (n === null) this.tail = p;
    else n.prevLink = p;
    w.prevLink = w.nextLink = null;
    w.inList = false;
    this.length--;
    return true;
  }

  /** Re-sorts after effective priorities changed (aging): stable by (eff desc, seq asc). */
  resort(): void {
    if (this.length < 2) return;
    const all = this.toArray().sort((x, y) => y.eff - x.eff || x.seq - y.seq);
    this.head = this.tail = null;
    this.length = 0;
    for (const w of all) {
      w.prevLink = this.tail;
      w.nextLink = null;
      if (this.tail === null) this.head = w;
      else this.tail.nextLink = w;
      this.tail = w;
      this.length++;
    }
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let w = this.head; w !== null; ) {
      const next = w.nextLink; // read first: the caller may remove w
      yield w;
      w = next;
    }
  }

  toArray(): T[] {
    const out: T[] = [];
    for (let w = this.head; w !== null; w = w.nextLink) out.push(w);
    return out;
  }
}
