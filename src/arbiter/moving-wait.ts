// A request waiting in the backend's queue of one GPU that the arbiter may move to another.
// Placement picks a GPU when the request arrives; on a multi-GPU host another GPU may free up
// first, or the chosen one may be lost (NVML_ERROR_GPU_IS_LOST) and never grant again. The
// arbiter then withdraws the waiter through an AbortSignal of its own and asks again where it
// now fits. Only waiters pay for this (an AbortController each); a grant at once never does.
import type { AcquireRequest } from '../backends/contract';
import type { Linked } from '../util/intrusive-list';

/** @internal Reason given to the backend when the arbiter withdraws a waiter to move it. */
export const MOVED = Symbol('gpu-arbiter: waiter moved to another GPU');

/** @internal */
export class MovingWait<D> implements Linked<MovingWait<D>> {
  prevLink: MovingWait<D> | null = null;
  nextLink: MovingWait<D> | null = null;
  inList = false;
  /** Aborts this attempt: set per attempt, since a moved waiter asks again. */
  controller = new AbortController();
  /** Set while the arbiter is withdrawing it to ask on `device`. */
  moving = false;

  constructor(
    /** The GPU whose queue it is in (or is moving to). */
    public device: D,
    /** The request of the current attempt (its resource and signal change on a move). */
    public request: AcquireRequest,
    /** Date.now() of the first attempt: the lease's wait counts from here. */
    readonly startedAt: number,
    /** The caller's signal; aborting it aborts whichever attempt is current. */
    readonly userSignal: AbortSignal | undefined,
  ) {}

  /** Withdraws the current attempt so the caller can ask again on `to`. */
  moveTo(to: D, resource: string): void {
    this.moving = true;
    const previous = this.controller;
    this.device = to;
    this.controller = new AbortController();
    this.request = { ...this.request, resource, signal: this.controller.signal };
    previous.abort(MOVED);
  }
}
