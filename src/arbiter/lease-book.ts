// What happens to a lease after it is granted: release (with the OOM cool-down), loss (revoke,
// expiry, holder death), the hold watchdog, and the backend's reports about holds (renewals
// failing, releases that could not reach the ledger). Each is counted, emitted and alerted here.
import type { BackendObserver, HolderInfo, LostReason } from '../backends/contract';
import { GpuArbiterError } from '../errors';
import type { DeviceBook } from './devices';
import type { Lease } from './lease';
import type { CriticalFailure } from './options';
import type { ArbiterState } from './state';
import { clearWatchdog, type WatchdogHooks } from './watchdog';
import { SetGrant } from './set-grant';

/** @internal */
export class LeaseBook {
  lastRenewalFailureAt: number | null = null;
  lastReleaseFailureAt: number | null = null;

  constructor(
    private readonly s: ArbiterState,
    private readonly devices: DeviceBook,
    private readonly onCriticalFailure: ((event: CriticalFailure) => void) | null,
  ) {}

  /** Lease.release() lands here (through the lease's hook). */
  readonly release = (lease: Lease, oom: boolean): Promise<void> | undefined => {
    const s = this.s;
    if (s.leases.remove(lease)) clearWatchdog(lease);
    s.learner.finish(lease, lease.task);
    // Before the release: the freed VRAM must not go to a waiter while the GPU cools down.
    if (oom) {
      s.learner.oom(lease.task, lease.vramMiB);
      this.devices.coolDown(lease);
    }
    let pending: Promise<void> | undefined;
    try {
      const r = lease.grant.release();
      // A remote ledger answers with a promise (never on the local hot path: a boolean there).
      if (typeof r === 'object') pending = r.then(() => s.rebalance(), this.releaseFailed);
    } catch (err) {
      this.releaseFailed(err);
    }
    s.rebalance();
    // Date.now(), not performance.now(): the smallest hold bucket is 10 ms, and the grant
    // already carries its Date.now() timestamp.
    const heldMs = Date.now() - lease.acquiredAt;
    lease.stats.hold.observe(heldMs / 1000);
    s.holdHistory.record(lease.task, heldMs);
    // Positional primitives, no payload object: this runs on every release.
    s.events.emit('released', lease, heldMs, oom);
    if (s.idle !== null) s.checkIdle();
    return pending;
  };

  /** The backend took a hold away (AcquireRequest.onLost). */
  readonly lost = (reason: LostReason, holder: HolderInfo): void => {
    const s = this.s;
    let lease: Lease | undefined;
    for (const l of s.leases) if (l.holder === holder || l.id === holder.leaseId) lease = l;
    // Counted once per lease: a lease on several GPUs hears once per member.
    if (lease === undefined) return;
    s.metrics.leaseLost++;
    s.leases.remove(lease);
    // A lease on several GPUs lost one: give the others back (the job needs all of them).
    if (lease.grant instanceof SetGrant) lease.grant.release();
    clearWatchdog(lease);
    s.learner.finish(lease, lease.task);
    s.checkIdle();
    s.events.emit('lease-lost', { lease: lease.toJSON(), reason });
    s.alert({
      kind: 'lease-lost',
      message: `Lease ${lease.id} (${lease.task}) on ${lease.grant.resource} lost: ${reason}`,
      task: lease.task,
      leaseId: lease.id,
      label: lease.label,
      resource: lease.grant.resource,
      device: lease.device.index,
      details: { reason, fencingToken: lease.fencingToken },
    });
    if (reason === 'renewal-failed') {
      // The GPU work may still be running while the ledger gives its VRAM to someone else.
      this.critical({
        kind: 'lease-lost',
        resource: lease.grant.resource,
        fencingToken: lease.fencingToken,
        task: lease.task,
        reason,
        error: new GpuArbiterError('E_LEASE_LOST', `Lease ${lease.id} (${lease.task}) lost: ${reason}`, { reason }),
      });
    }
    s.rebalance();
  };

  readonly watchdog: WatchdogHooks = {
    exceeded: (lease, holdMaxMs) => {
      const s = this.s;
      s.metrics.countWatchdog(lease.task);
      const heldMs = Date.now() - lease.acquiredAt;
      const willRevoke = lease.policy.revokeOnHoldMax;
      s.events.emit('watchdog', { lease: lease.toJSON(), heldMs, holdMaxMs, willRevoke });
      s.alert({
        kind: 'watchdog',
        message: `Lease ${lease.id} (${lease.task}) held ${heldMs} ms, over holdMaxMs ${holdMaxMs}${willRevoke ? '; it will be revoked' : ''}`,
        task: lease.task,
        leaseId: lease.id,
        label: lease.label,
        resource: lease.grant.resource,
        device: lease.device.index,
        details: { heldMs, holdMaxMs, willRevoke },
      });
    },
    revoke: (lease) => {
      const r = this.s.backend.revoke(lease.grant.resource, lease.grant.token, 'revoked');
      if (typeof r === 'object') r.catch((err: unknown) => this.s.warn(err));
    },
  };

  /** Told by a remote backend about outages and failures. */
  readonly observer: BackendObserver = {
    down: (error) => {
      this.s.metrics.backendAvailable = 0;
      this.s.events.emit('backend-down', { error });
    },
    up: () => {
      this.s.metrics.backendAvailable = 1;
      this.s.events.emit('backend-up', {});
      // Rewrite capacities and re-read the ledger now rather than at the next sample.
      this.s.resample();
    },
    renewalFailing: (event) => {
      this.s.metrics.renewalFailures++;
      this.lastRenewalFailureAt = Date.now();
      this.s.events.emit('renewal-failing', event);
    },
    criticalFailure: (event) => {
      let task: string | null = null;
      for (const l of this.s.leases) if (l.grant.fencingToken === event.fencingToken && l.grant.resource === event.resource) task = l.task;
      this.critical({ kind: 'release-failed', resource: event.resource, fencingToken: event.fencingToken, task, reason: null, error: event.error });
    },
  };

  /** A release the backend could not apply: counted and reported, never thrown at the caller. */
  private readonly releaseFailed = (err: unknown): void => {
    this.s.metrics.releaseFailures++;
    this.lastReleaseFailureAt = Date.now();
    this.s.warn(err);
  };

  /** Calls onCriticalFailure; never throws (a throwing alert hook is reported as a warning). */
  private critical(event: CriticalFailure): void {
    this.s.events.emit('critical-failure', event);
    if (event.kind === 'release-failed') {
      this.s.alert({
        kind: 'release-failed',
        message: `Release of ${event.resource} (fencing token ${event.fencingToken}) could not reach the ledger: ${event.error.message}`,
        task: event.task,
        resource: event.resource,
        details: { fencingToken: event.fencingToken, error: event.error.message },
      });
    }
    if (this.onCriticalFailure === null) return;
    try {
      this.onCriticalFailure(event);
    } catch (err) {
      this.s.warn(err);
    }
  }
}
