// Demand and idle hooks, for autoscalers. `demand`: requests that no GPU here could ever take
// (no usable GPU, or every GPU too small), coalesced over `debounceMs` into one event. `idle`: no
// holder and no waiter for `idleMs`, fired once per idle period.

export interface DemandEvent {
  /** Requests counted in this window. */
  requests: number;
  /** Per task: how many. */
  tasks: Record<string, number>;
  /** The largest request (MiB) of the window. */
  neededMiB: number;
  /** The largest GPU budget seen (MiB); null: no usable GPU. */
  largestCapacityMiB: number | null;
  /** 'no-device': no usable GPU; 'too-small': every GPU is smaller than a request. */
  reason: 'no-device' | 'too-small';
}

export interface IdleEvent {
  /** How long it has been idle (ms). */
  idleMs: number;
}

/** @internal */
export class DemandTracker {
  private window: DemandEvent | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly debounceMs: number,
    private readonly fire: (e: DemandEvent) => void,
  ) {}

  note(task: string, neededMiB: number, largestCapacityMiB: number | null, reason: DemandEvent['reason'], count = 1): void {
    this.window ??= { requests: 0, tasks: {}, neededMiB: 0, largestCapacityMiB, reason };
    const w = this.window;
    w.requests += count;
    w.tasks[task] = (w.tasks[task] ?? 0) + count;
    w.neededMiB = Math.max(w.neededMiB, neededMiB);
    w.largestCapacityMiB = largestCapacityMiB;
    w.reason = reason;
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        const e = this.window;
        this.window = null;
        if (e !== null) this.fire(e);
      }, this.debounceMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.window = null;
  }
}

/** @internal */
export class IdleTracker {
  private timer: NodeJS.Timeout | null = null;
  private idleSince: number | null = null;

  constructor(
    private readonly idleMs: number,
    private readonly fire: (e: IdleEvent) => void,
  ) {}

  /** Call whenever holders or waiters may have changed. */
  update(busy: boolean): void {
    if (busy) {
      this.idleSince = null;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      return;
    }
    if (this.idleSince !== null) return; // already idle: its timer runs (or has fired)
    this.idleSince = Date.now();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fire({ idleMs: Date.now() - (this.idleSince ?? Date.now()) });
    }, this.idleMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
