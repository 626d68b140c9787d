// The grant behind a lease on several GPUs (acquire(task, { gpus: N })): the backend's grants of
// one all-or-nothing request (Backend.acquireSet), seen by the rest of the arbiter as one Grant.
import type { Grant } from '../backends/contract';

/** @internal One Grant over the members of a set grant, in the order of the lease's devices. */
export class SetGrant implements Grant {
  readonly resource: string;
  readonly units: number;
  readonly token: string;
  readonly fencingToken: number;
  readonly grantedAt: number;
  readonly waitedMs: number;
  /** Aborts when any member is lost: the job needs every GPU of the set. */
  readonly lost: AbortSignal;

  constructor(readonly members: readonly Grant[]) {
    const first = members[0]!;
    this.resource = first.resource;
    this.units = first.units;
    this.token = first.token;
    this.fencingToken = first.fencingToken;
    this.grantedAt = first.grantedAt;
    this.waitedMs = first.waitedMs;
    this.lost = AbortSignal.any(members.map((m) => m.lost));
  }

  /**
   * Gives every member still held back (a backend gives a set back in one step where it can);
   * a promise where the ledger is remote, as Grant.release().
   */
  release(): boolean | Promise<boolean> {
    const results = this.members.map((m) => m.release());
    if (results.every((r) => typeof r === 'boolean')) return results.some((r) => r === true);
    return Promise.all(results).then((rs) => rs.some(Boolean));
  }

  /** True when `token` is one of the members'. */
  holds(token: string): boolean {
    return this.members.some((m) => m.token === token);
  }
}
