// What a waiting request keeps, and the timer work that goes with it, for ./waiters.ts (one
// resource) and ./set-waiters.ts (a set of resources) alike.

/** How often a late grant is confirmed again, or asked for again, before the request fails. */
export const MAX_LATE_TRIES = 3;

/** The state both kinds of waiter keep. */
export interface WaitingBase {
  settled: boolean;
  /** The next call (heartbeat, poll). */
  timer: NodeJS.Timeout | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
  onAbort: (() => void) | undefined;
  /** Grants that came too late to hand out, so far. */
  lateTries: number;
  req: { signal?: AbortSignal };
}

/** Marks the waiter settled and stops its timers and its abort listener. */
export function stopWaiting(w: WaitingBase): void {
  w.settled = true;
  if (w.timer) clearTimeout(w.timer);
  if (w.deadlineTimer) clearTimeout(w.deadlineTimer);
  if (w.onAbort) w.req.signal?.removeEventListener('abort', w.onAbort);
  w.timer = w.deadlineTimer = undefined;
}

/** Runs `poll` in `delay` ms, in place of a call already scheduled; nothing once settled. */
export function pollLater(w: WaitingBase, delay: number, poll: () => void): void {
  if (w.settled) return;
  if (w.timer) clearTimeout(w.timer);
  w.timer = setTimeout(() => {
    w.timer = undefined;
    poll();
  }, delay);
}

/** A grant came too late to hand out: true when it may be tried again (else the request fails). */
export function mayRetryLate(w: WaitingBase): boolean {
  return ++w.lateTries <= MAX_LATE_TRIES;
}
