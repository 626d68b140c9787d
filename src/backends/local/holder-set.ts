// One resource's holders. Most of the time a resource has one holder at a time (a whole GPU, a
// mutex-like use): that one sits in a slot of its own, and only the others in a linked list.
// Every pointer the ledger (long-lived, so in V8's old generation) stores to a new grant costs a
// write-barrier entry; a list's head and tail are two such stores per grant plus its link
// bookkeeping, which measured as a sixth of the uncontended acquire+release
// (bench/local-contention.js). Iteration order is not grant order: sort by fencing token for that.
import { IntrusiveList, type Linked } from '../../util/intrusive-list';

export class HolderSet<T extends Linked<T>> {
  private solo: T | null = null;
  private readonly rest = new IntrusiveList<T>();

  get size(): number {
    return (this.solo === null ? 0 : 1) + this.rest.size;
  }

  add(item: T): void {
    if (this.solo === null) {
      this.solo = item;
      item.inList = true;
    } else this.rest.add(item);
  }

  /** Removes `item`; false if it was not held. */
  remove(item: T): boolean {
    if (this.solo === item) {
      this.solo = null;
      item.inList = false;
      return true;
    }
    return this.rest.remove(item);
  }

  *[Symbol.iterator](): IterableIterator<T> {
    // Read first: the caller may remove the item it is given.
    const solo = this.solo;
    if (solo !== null) yield solo;
    yield* this.rest;
  }

  toArray(): T[] {
    return [...this];
  }
}
