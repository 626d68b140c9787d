// One single-GPU acquire() on its way to a Lease (requests.ts acquireFor): what the lease will be
// made of, and the sink the local backend settles the caller's promise through
// (src/backends/local/queue.ts GrantSink). One object per request carries all of it: per-request
// closures (to make the lease, to end the wait, to map a failure) and a then() on the backend's
// promise measured as a fifth of the acquire+release with 100 waiters (bench/local-contention.js).
import type { Grant } from '../backends/contract';
import type { GrantSink } from '../backends/local/queue';
import type { TaskStats } from '../metrics/counters';
import type { TaskPolicy } from '../policy/task-policy';
import type { Lease, LeaseHolderInfo } from './lease';
import type { ManagedDevice } from './types';

/** @internal What a LeaseRequest asks of the request path (requests.ts). */
export interface LeaseRequestHooks {
  /** Wraps a grant on `on` into a counted, watched Lease. */
  lease(r: LeaseRequest, grant: Grant, on: ManagedDevice, waitedMs: number): Lease;
  /** Counts a failure and maps it to what the caller sees. */
  failed(policy: TaskPolicy, err: unknown): unknown;
}

/** @internal */
export class LeaseRequest implements GrantSink<Lease> {
  /** True while counted as waiting in the backend (ArbiterState.waitStarted) and not yet settled. */
  waiting = false;
  /** Queued in an in-process ledger that settles it through granted()/failed() (acquireInto). */
  settlesInLedger = false;

  constructor(
    private readonly hooks: LeaseRequestHooks,
    private readonly state: { waitEnded(): void },
    readonly policy: TaskPolicy,
    readonly holder: LeaseHolderInfo,
    readonly units: number,
    readonly pid: number,
    readonly stats: TaskStats,
    readonly device: ManagedDevice,
    /** acquire() counts and maps failures; run() gets them raw to apply the busy policy. */
    private readonly mapErrors: boolean,
  ) {}

  /** The backend granted it on the GPU it was placed on. */
  granted(grant: Grant): Lease {
    return this.grantedOn(grant, this.device, grant.waitedMs);
  }

  /** Granted on `on` (a waiter may have moved between GPUs), after `waitedMs` in all. */
  grantedOn(grant: Grant, on: ManagedDevice, waitedMs: number): Lease {
    const lease = this.hooks.lease(this, grant, on, waitedMs);
    this.settle();
    return lease;
  }

  failed(err: unknown): unknown {
    this.settle();
    return this.mapErrors ? this.hooks.failed(this.policy, err) : err;
  }

  private settle(): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.state.waitEnded();
  }
}
