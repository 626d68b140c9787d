// The hold watchdog (docs/design.md "Busy policies"): past holdMaxMs, tell; with revokeOnHoldMax,
// take the hold revokeGraceMs later. Timers are unref'd (a watchdog never keeps a process
// alive) and the hooks are the arbiter's, which never throw from a timer.
import type { Lease } from './lease';

export interface WatchdogHooks {
  /** holdMaxMs passed: emit and count. */
  exceeded(lease: Lease, holdMaxMs: number): void;
  /** The grace after it passed too (revokeOnHoldMax only): take the hold. */
  revoke(lease: Lease): void;
}

/** Arms the watchdog of a lease whose policy has holdMaxMs. */
export function armWatchdog(lease: Lease, holdMaxMs: number, hooks: WatchdogHooks): void {
  lease.watchdogTimer = setTimeout(() => {
    lease.watchdogTimer = null;
    lease.watchdogFired = true;
    hooks.exceeded(lease, holdMaxMs);
    if (lease.policy.revokeOnHoldMax) {
      lease.revokeTimer = setTimeout(() => {
        lease.revokeTimer = null;
        hooks.revoke(lease);
      }, lease.policy.revokeGraceMs);
      lease.revokeTimer.unref();
    }
  }, holdMaxMs);
  lease.watchdogTimer.unref();
}

/** Disarms it (release, loss, close). */
export function clearWatchdog(lease: Lease): void {
  if (lease.watchdogTimer !== null) clearTimeout(lease.watchdogTimer);
  if (lease.revokeTimer !== null) clearTimeout(lease.revokeTimer);
  lease.watchdogTimer = lease.revokeTimer = null;
}
