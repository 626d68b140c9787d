// A Lease is what acquire() hands out: where to run, how much VRAM was declared, and how to give
// it back. It holds no timers or signals of its own; the arbiter's hooks do the bookkeeping.
import type { PoolNode } from '../backends/cluster';
import type { Grant, HolderInfo } from '../backends/contract';
import type { TaskStats } from '../metrics/counters';
import type { TaskPolicy } from '../policy/task-policy';

/** The GPU a lease is for. */
export interface LeaseDevice {
  /** NVML index (PCI bus order). */
  index: number;
  uuid: string | null;
  name: string | null;
}

/**
 * Environment for the process that will do the GPU work. CUDA_VISIBLE_DEVICES names the GPU by
 * UUID where known, because CUDA numbers devices fastest-first by default while NVML numbers
 * them by PCI bus; with CUDA_DEVICE_ORDER=PCI_BUS_ID an index fallback means the same GPU too.
 */
export interface LeaseEnv {
  readonly CUDA_VISIBLE_DEVICES: string;
  readonly CUDA_DEVICE_ORDER: 'PCI_BUS_ID';
}

/** Plain-data view of a lease (events, snapshots, logs). */
export interface LeaseInfo {
  id: string;
  task: string;
  device: LeaseDevice;
  /** Every GPU of the lease (acquire's `gpus`); `device` is the first. */
  devices: LeaseDevice[];
  /** VRAM declared on each GPU of the lease. */
  vramMiB: number;
  fencingToken: number;
  pid: number;
  acquiredAt: number;
  waitedMs: number;
  released: boolean;
  /** The job's label (AcquireOptions.label); null when none was given. */
  label: string | null;
  /** scope 'cluster': the node the lease is on; null for this node's GPUs. */
  node: PoolNode | null;
}

/**
 * @internal The backend's HolderInfo for a lease. The id string is built only when read
 * (snapshots, lost leases): formatting a fresh number on every acquire measured as a tenth of
 * the uncontended acquire+release.
 */
export class LeaseHolderInfo implements HolderInfo {
  constructor(
    readonly seq: number,
    readonly task: string,
    readonly pid: number,
    readonly label: string | undefined,
  ) {}

  get leaseId(): string {
    return `L${this.seq}`;
  }
}

/**
 * @internal What the arbiter does when a lease is released: undefined when done (in-process
 * ledgers), or a promise that settles when a remote ledger has the release (it never rejects).
 */
export type ReleaseHook = (lease: Lease, oom: boolean) => Promise<void> | undefined;

const RESOLVED = Promise.resolve();

/**
 * A granted share of one GPU. Release it (or let `await using` do it) when the GPU work ends.
 * (It is a Linked<Lease> of util/intrusive-list.ts structurally; the link members are stripped
 * from the published types, so no `implements` clause names it.)
 */
export class Lease implements AsyncDisposable, Disposable {
  private isReleased = false;

  /** @internal */
  constructor(
    /** @internal */
    readonly holder: LeaseHolderInfo,
    readonly task: string,
    readonly device: LeaseDevice,
    readonly env: LeaseEnv,
    /** VRAM this lease declared (and the ledger reserves). */
    readonly vramMiB: number,
    /** The process expected to use the VRAM (overuse is checked against it). */
    readonly pid: number,
    /** @internal */
    readonly grant: Grant,
    /** How long the request waited before the grant (across GPUs, if it was moved). */
    readonly waitedMs: number,
    /** @internal The policy in force when granted (configure() does not change live leases). */
    readonly policy: TaskPolicy,
    /** @internal The task's counters, looked up once at grant. */
    readonly stats: TaskStats,
    private readonly onRelease: ReleaseHook,
    /** Every GPU of the lease (one, or `gpus` of them), in CUDA_VISIBLE_DEVICES order. */
    devices?: readonly LeaseDevice[],
  ) {
    this.devicesList = devices ?? null;
  }

  // Made on first read for a one-GPU lease: most holders never look, and an array per grant
  // showed in the uncontended acquire+release (bench/local-contention.js).
  private devicesList: readonly LeaseDevice[] | null;

  /** Every GPU of the lease, in CUDA_VISIBLE_DEVICES order (`device` is the first). */
  get devices(): readonly LeaseDevice[] {
    if (this.devicesList === null) this.devicesList = [this.device];
    return this.devicesList;
  }

  /** scope 'cluster': the node the GPUs are on (send the job there); null for this node's GPUs. */
  node: PoolNode | null = null;

  // Watchdog and overuse state, kept on the lease itself so a grant allocates one object, not two.
  /** @internal */
  watchdogTimer: NodeJS.Timeout | null = null;
  /** @internal */
  revokeTimer: NodeJS.Timeout | null = null;
  /** @internal */
  watchdogFired = false;
  /** @internal */
  overuse = false;
  /** @internal */
  prevLink: Lease | null = null;
  /** @internal */
  nextLink: Lease | null = null;
  /** @internal */
  inList = false;

  /** @internal True where the lease holds `resource` (any of its GPUs). */
  holds(resource: string): boolean {
    const members = (this.grant as Grant & { members?: readonly Grant[] }).members;
    return members === undefined ? this.grant.resource === resource : members.some((m) => m.resource === resource);
  }

  /** Unique per arbiter, e.g. 'L42'. */
  get id(): string {
    return this.holder.leaseId;
  }

  /** The job's label (AcquireOptions.label); null when none was given. */
  get label(): string | null {
    return this.holder.label ?? null;
  }

  /** Strictly increasing per GPU: pass it to storage that must refuse stale holders. */
  get fencingToken(): number {
    return this.grant.fencingToken;
  }

  /** Date.now() when granted. */
  get acquiredAt(): number {
    return this.grant.grantedAt;
  }

  /** Aborts (reason: GpuArbiterError E_LEASE_LOST) when the hold is revoked or lost. */
  get lost(): AbortSignal {
    return this.grant.lost;
  }

  get released(): boolean {
    return this.isReleased;
  }

  /**
   * Gives the GPU share back. Idempotent: later calls do nothing. With the local backend the
   * share is free when this returns; with Redis the promise resolves once Redis has the release
   * (it never rejects: a release Redis could not take is counted, reported through `warning` and
   * onCriticalFailure, and the hold ends by its TTL).
   * @param options.oom the work ran out of GPU memory (recorded in the `released` event).
   */
  release(options?: { oom?: boolean }): Promise<void> {
    if (this.isReleased) return this.releasing ?? RESOLVED;
    this.isReleased = true;
    const pending = this.onRelease(this, options?.oom === true);
    if (pending === undefined) return RESOLVED;
    this.releasing = pending;
    return pending;
  }

  private releasing: Promise<void> | null = null;

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }

  [Symbol.dispose](): void {
    void this.release();
  }

  toJSON(): LeaseInfo {
    return {
      id: this.id,
      task: this.task,
      device: { ...this.device },
      devices: this.devices.map((d) => ({ ...d })),
      vramMiB: this.vramMiB,
      fencingToken: this.fencingToken,
      pid: this.pid,
      acquiredAt: this.acquiredAt,
      waitedMs: this.waitedMs,
      released: this.isReleased,
      label: this.label,
      node: this.node,
    };
  }
}
