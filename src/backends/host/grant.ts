// HostGrant: one hold on a host resource, handed out by HostLedger (ledger.ts).
import { GpuArbiterError } from '../../errors';
import { formatToken } from './options';

/** Why a hold was lost (as in the backend contract's LostReason). */
export type HostLostReason = 'revoked' | 'expired' | 'holder-dead' | 'backend-closed';

/** @internal Every HostLostReason (the addon numbers them: RawHostCodes.lostReason). */
export const HOST_LOST_REASONS: readonly HostLostReason[] = ['revoked', 'expired', 'holder-dead', 'backend-closed'];

/**
 * A hold on a host resource. Release it exactly once (further calls do nothing), or use
 * `await using`.
 */
export class HostGrant {
  /** The resource held. */
  readonly resource: string;
  /** Units held. */
  readonly units: number;
  /** Priority it was requested with. */
  readonly priority: number;
  /** @internal */ readonly slot: number;
  /** @internal */ readonly tokenHi: number;
  /** @internal */ readonly tokenLo: number;
  readonly #fence: number;
  /** Gives the hold back in its ledger (HostLedger's release of a grant). */
  readonly #giveBack: (grant: HostGrant) => void;
  #released = false;
  #lost: AbortController | undefined;
  /**
   * @internal Called once when the hold is taken away (revoke from any process, close, found
   * gone), before `lost` aborts: lets the arbiter's host backend report losses without creating
   * an AbortController for every grant.
   */
  _onLost: ((reason: HostLostReason) => void) | undefined = undefined;

  /** @internal Made by HostLedger only; `giveBack` releases the hold in the ledger. */
  constructor(giveBack: (grant: HostGrant) => void, resource: string, units: number, priority: number, slot: number, hi: number, lo: number, fence: number) {
    this.#giveBack = giveBack;
    this.resource = resource;
    this.units = units;
    this.priority = priority;
    this.slot = slot;
    this.tokenHi = hi;
    this.tokenLo = lo;
    this.#fence = fence;
  }

  /**
   * Ownership token: opaque, random, valid until released. `HostLedger.release(token)` with a
   * stale or forged one is refused with `E_NOT_OWNER` and counted.
   */
  get token(): string {
    return formatToken(this.slot, this.tokenHi, this.tokenLo);
  }

  /**
   * Strictly increasing per resource across every process of the host: pass it to storage that
   * must reject writes from a holder that has since lost the resource. A number, as in every
   * backend (src/backends/contract.ts): the ledger's counter is 64-bit, but a double holds it
   * exactly up to 2^53 grants per resource (285 years at a million grants a second), and a
   * number compares, serialises and crosses JSON with no special care, unlike a bigint.
   */
  get fencingToken(): number {
    return this.#fence;
  }

  /**
   * Aborts if the hold is taken away: revoked by any process of the host
   * ({@link HostLedger.revoke}), the ledger was closed (or its worker_thread is exiting) while
   * holding, or a release found the hold already gone. Reason: a GpuArbiterError
   * `E_LEASE_LOST` whose `details.reason` is a {@link HostLostReason}.
   */
  get lost(): AbortSignal {
    this.#lost ??= new AbortController();
    return this.#lost.signal;
  }

  /** True once released (or lost). */
  get released(): boolean {
    return this.#released;
  }

  /** Gives the units back. Idempotent: only the first call does anything. */
  async release(): Promise<void> {
    this.releaseSync();
  }

  /** Synchronous form of {@link release} (the ledger operation takes microseconds). */
  releaseSync(): void {
    if (this._claimRelease()) this.#giveBack(this);
  }

  /** @internal Marks it released; true the first time (HostLedger.releaseSet gives it back). */
  _claimRelease(): boolean {
    if (this.#released) return false;
    this.#released = true;
    return true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.releaseSync();
  }

  /** @internal The ledger took it away (revoke, close, or found gone). */
  _markLost(message: string, reason: HostLostReason = 'backend-closed'): void {
    if (this.#released && this.#lost?.signal.aborted) return;
    this.#released = true;
    const hook = this._onLost;
    if (hook !== undefined) {
      this._onLost = undefined;
      try {
        hook(reason);
      } catch {
        // An observer that throws must not keep `lost` from aborting.
      }
    }
    this.#lost ??= new AbortController();
    if (!this.#lost.signal.aborted) {
      this.#lost.abort(new GpuArbiterError('E_LEASE_LOST', message, { resource: this.resource, reason }));
    }
  }
}
