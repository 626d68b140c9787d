// The host backend's Grant (the backend contract's, src/backends/contract.ts) over a HostGrant.
import { isGpuArbiterError } from '../../errors';
import type { AcquireRequest, Grant, HolderInfo } from '../contract';
import type { HostGrant, HostLostReason } from './grant';

/** @internal A HostBackend grant. */
export class HostBackendGrant implements Grant {
  /** Released or lost: release() does nothing more. */
  done = false;
  /** Lost (revoked, closed) rather than released. */
  wasLost = false;
  readonly resource: string;
  readonly units: number;
  readonly fencingToken: number;
  private cachedToken: string | null = null;
  /** @internal The grants of one set (HostBackend.acquireSet), given back together; else undefined. */
  set: { members: HostBackendGrant[]; giveBack(grants: HostGrant[]): void } | undefined;

  /** `forget`: the backend stops tracking it (called once, when released or lost). */
  constructor(
    private readonly forget: (grant: HostBackendGrant) => void,
    readonly hostGrant: HostGrant,
    readonly holder: HolderInfo,
    readonly grantedAt: number,
    readonly waitedMs: number,
    private readonly onLost: AcquireRequest['onLost'],
  ) {
    this.resource = hostGrant.resource;
    this.units = hostGrant.units;
    this.fencingToken = hostGrant.fencingToken;
    hostGrant._onLost = this.lostHook;
  }

  get token(): string {
    this.cachedToken ??= this.hostGrant.token;
    return this.cachedToken;
  }

  get lost(): AbortSignal {
    return this.hostGrant.lost;
  }

  release(): boolean {
    if (this.done) return false;
    // A set's members go back together, under one ledger lock (HostLedger.releaseSet).
    const members = this.set ? this.set.members.filter((m) => !m.done) : [this];
    for (const m of members) {
      m.done = true;
      m.forget(m);
    }
    try {
      if (this.set) this.set.giveBack(members.map((m) => m.hostGrant));
      else this.hostGrant.releaseSync();
    } catch (err) {
      // E_NOT_OWNER: the hold was already gone (released by its token elsewhere); its `lost`
      // has aborted. Nothing was given back by this call.
      if (isGpuArbiterError(err) && err.code === 'E_NOT_OWNER') return false;
      throw err;
    }
    return !this.wasLost;
  }

  // Called by the ledger (through HostGrant._onLost) once, before `lost` aborts.
  private readonly lostHook = (reason: HostLostReason): void => {
    this.wasLost = true;
    if (!this.done) {
      this.done = true;
      this.forget(this);
    }
    this.onLost?.(reason, this.holder);
  };
}
