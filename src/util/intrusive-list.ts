// A doubly linked list whose links live in the items themselves. Holders are added and removed on
// every acquire/release; a Set or Map of them costs an identity hash and table churn per grant,
// which measured as about a quarter of the uncontended acquire+release (bench/local-contention.js).

/** Fields an item needs to be kept in an {@link IntrusiveList}. Initialise them to null/false. */
export interface Linked<T> {
  prevLink: T | null;
  nextLink: T | null;
  inList: boolean;
}

export class IntrusiveList<T extends Linked<T>> {
  private head: T | null = null;
  private tail: T | null = null;
  size = 0;

  add(item: T): void {
    item.prevLink = this.tail;
    item.nextLink = null;
    if (this.tail === null) this.head = item;
    else this.tail.nextLink = item;
    this.tail = item;
    item.inList = true;
    this.size++;
  }

  /** Removes `item`; false if it was not in a list. */
  remove(item: T): boolean {
    if (!item.inList) return false;
    if (item.prevLink === null) this.head = item.nextLink;
    else item.prevLink.nextLink = item.nextLink;
    if (item.nextLink === null) this.tail = item.prevLink;
    else item.nextLink.prevLink = item.prevLink;
    item.prevLink = item.nextLink = null;
    item.inList = false;
    this.size--;
    return true;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let x = this.head; x !== null; ) {
      const next = x.nextLink; // read first: the caller may remove x
      yield x;
      x = next;
    }
  }

  toArray(): T[] {
    return [...this];
  }
}
