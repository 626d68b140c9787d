// The requests a HostLedger handle has queued in the ledger: their promises, deadlines and abort
// listeners, and the event-loop reference held while any waits. Grants arrive from the process's
// waiter thread (native/host/waiter_thread.cc) through HostLedger's onGrant, which takes the
// request from here and resolves it.
import { GpuArbiterError } from '../../errors';
import { fromNative, type RawHostLedger } from '../../native/addon';
import type { HostGrant } from './grant';

/** @internal A queued request, as HostLedger resolves it. */
export interface QueuedRequest {
  readonly request: number;
  readonly resource: string;
  readonly units: number;
  readonly priority: number;
  /** An all-or-nothing request (HostLedger.acquireSet): its resources, names and indices. */
  readonly set: { names: string[]; indices: number[] } | undefined;
  /** A HostGrant; for a set, every HostGrant in the order asked. */
  resolve(grant: HostGrant | HostGrant[]): void;
  reject(err: GpuArbiterError): void;
}

interface Entry extends QueuedRequest {
  /** The waiter's slot in the ledger (to cancel it). */
  slot: number;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** @internal What a queued request waits with. */
export interface WaitOptions {
  resource: string;
  units: number;
  priority: number;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  set?: { names: string[]; indices: number[] };
}

/** @internal One handle's queued requests (see the file comment). */
export class QueuedRequests {
  readonly #entries = new Map<number, Entry>();

  constructor(
    private readonly raw: RawHostLedger,
    private readonly isClosed: () => boolean,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The promise of the grant of request `request`, queued in waiter slot `slot`: rejects with
   * E_TIMEOUT after `timeoutMs` and `abortError` when `signal` aborts, leaving the queue.
   */
  wait<T extends HostGrant | HostGrant[] = HostGrant>(request: number, slot: number, o: WaitOptions, abortError: () => GpuArbiterError): Promise<T> {
    const { resource, units, priority, timeoutMs, signal } = o;
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = {
        request,
        slot,
        resource,
        units,
        priority,
        set: o.set,
        resolve: resolve as (grant: HostGrant | HostGrant[]) => void,
        reject,
        signal,
        timer: undefined,
        onAbort: undefined,
      };
      if (timeoutMs !== undefined) {
        entry.timer = setTimeout(() => {
          this.#giveUp(
            entry,
            new GpuArbiterError('E_TIMEOUT', `Timed out after ${timeoutMs} ms waiting for ${units} unit(s) of ${resource}`, { resource, timeoutMs }),
          );
        }, timeoutMs);
      }
      if (signal) {
        entry.onAbort = () => this.#giveUp(entry, abortError());
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      if (this.#entries.size === 0) this.raw.ref(); // keep the loop alive while waiting
      this.#entries.set(request, entry);
    });
  }

  /** Request `request`, no longer waiting (for its grant), or undefined when it gave up. */
  take(request: number): QueuedRequest | undefined {
    const entry = this.#entries.get(request);
    if (entry !== undefined) this.#settle(entry);
    return entry;
  }

  /** Every request, no longer waiting (the handle is closing: the ledger has dropped them). */
  takeAll(): QueuedRequest[] {
    const all = [...this.#entries.values()];
    for (const entry of all) this.#settle(entry);
    return all;
  }

  #settle(entry: Entry): void {
    this.#entries.delete(entry.request);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    if (this.#entries.size === 0 && !this.isClosed()) this.raw.unref();
  }

  // Timeout or abort: leave the queue now. If the grant was already made, give it straight back.
  #giveUp(entry: Entry, err: GpuArbiterError): void {
    if (!this.#entries.has(entry.request)) return;
    this.#settle(entry);
    // codes.cancel.NOT_FOUND: already picked up by the waiter thread; HostLedger's onGrant finds
    // no request here and releases the hold. This runs in a timer or an abort listener, where a
    // throw would be an uncaught exception: a ledger that refuses the cancel (found corrupt, its
    // lock stuck) rejects the request with that error instead.
    try {
      this.raw.cancel(entry.slot, entry.request);
    } catch (e) {
      const native = fromNative(e);
      entry.reject(native instanceof GpuArbiterError ? native : err);
      return;
    }
    entry.reject(err);
  }
}
