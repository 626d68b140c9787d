// The backend contract (docs/design.md "The backend contract"): one interface, three scopes (local,
// host, redis). The arbiter decides *where* (placement) and *how much* (units); a backend decides
// *who is next* and keeps the ledger of holders. Shared tests: test/helpers/backend-contract.ts.
import type { ClusterView, PoolNode } from './cluster';

/** Who holds (or waits for) a grant; shown in snapshots and used to attribute NVML usage. */
export interface HolderInfo {
  /** The arbiter's lease id (unique per arbiter instance). */
  leaseId: string;
  /** Task type, e.g. 'ASR'. */
  task: string;
  /** Process expected to use the VRAM; NVML per-process usage is matched against it. */
  pid: number;
  /** What the job is, for people (e.g. `job=42 session=call-7 stage=ocr`); shown in views and alerts. */
  label?: string;
}

/** Capacity of one resource. For a GPU: units are MiB. For a plain mutex: capacity 1, units 1. */
export interface ResourceSpec {
  /**
   * The most units that can ever be granted at once (GPU: total * maxFraction). A request for
   * more fails at once with E_DOES_NOT_FIT.
   */
  capacity: number;
  /**
   * Units in use by parties that hold no grant (GPU: VRAM of processes outside the ledger,
   * from NVML). Grants need `declared + external + units <= capacity`. Updated on every sample.
   * @default 0
   */
  external?: number;
  /** No new grants while true (e.g. NVML_ERROR_GPU_IS_LOST); waiters keep waiting. @default false */
  closed?: boolean;
}

/**
 * The highest request priority every backend orders by (0..BACKEND_MAX_PRIORITY; the host ledger
 * also takes the negatives). Arbiter policies and per-call priorities use the narrower
 * 0..MAX_PRIORITY (src/policy/task-policy.ts).
 */
export const BACKEND_MAX_PRIORITY = 1_000_000;

export interface AcquireRequest {
  resource: string;
  /** Units wanted; integer >= 1. */
  units: number;
  /** Higher first; FIFO among equal priorities. 0..BACKEND_MAX_PRIORITY. */
  priority: number;
  /**
   * Give up at this time (ms since epoch, Date.now() clock) with E_TIMEOUT. A deadline at or
   * before now means "try once": grant at once or fail. Undefined: no deadline.
   */
  deadline?: number;
  /** Aborting removes the waiter at once and rejects with E_ABORTED. */
  signal?: AbortSignal;
  holder: HolderInfo;
  /** Waiters are counted per group (the task) for `queueLimit`. */
  queueGroup?: string;
  /** With queueGroup: more waiters than this in the group get E_QUEUE_FULL. */
  queueLimit?: number;
  /**
   * Once granted, the backend may revoke the hold with reason 'expired' when it is this old
   * (ms), even if the holding process cannot act (stopped, hung): the arbiter passes
   * `holdMaxMs` + a grace for policies with `revokeOnHoldMax`. Host: enforced by whichever
   * process of the host next sweeps the ledger. Backends that cannot enforce it ignore it (the
   * holder's own watchdog still runs). Undefined: no limit.
   */
  revokeAfterMs?: number;
  /**
   * Called once if the hold is later lost (revoke, expiry, holder death, close), before the
   * grant's `lost` signal aborts. Lets the caller count and report losses without creating the
   * signal for every grant; `holder` tells which, so one handler can serve every request.
   */
  onLost?: (reason: LostReason, holder: HolderInfo) => void;
}

/**
 * An all-or-nothing request: `units` on each of `resources` (2 to 16, distinct), granted together
 * or not at all (a job spanning several GPUs). Everything else as in AcquireRequest.
 */
export interface SetRequest extends Omit<AcquireRequest, 'resource'> {
  resources: string[];
}

/** A cluster-scope request (Backend.acquirePool): `units` on each of `gpus` GPUs of any one node that fits. */
export interface PoolRequest extends Omit<AcquireRequest, 'resource' | 'queueGroup' | 'queueLimit' | 'revokeAfterMs'> {
  gpus: number;
  /** Only nodes whose labels include all of these. */
  labels: Record<string, string>;
  placement: 'binpack' | 'spread';
}

/** What Backend.acquirePool grants: the node, its GPUs, one grant per GPU (releasing any gives all back). */
export interface PoolGrant {
  node: PoolNode;
  gpus: Array<{ index: number; uuid: string | null; name: string | null; resource: string }>;
  grants: Grant[];
}

/**
 * Why a grant was lost; `lost.reason` is a GpuArbiterError with code E_LEASE_LOST carrying this.
 * 'renewal-failed': a remote ledger (Redis) could not be reached to renew the hold before its TTL
 * ran out, so it may have been given to someone else.
 */
export type LostReason = 'revoked' | 'expired' | 'holder-dead' | 'backend-closed' | 'renewal-failed' | 'node-lost';

/** A granted hold on `units` of `resource`. */
export interface Grant {
  readonly resource: string;
  readonly units: number;
  /** Ownership proof: release and revoke need it. */
  readonly token: string;
  /** Strictly increasing per resource, across every process and host sharing the backend. */
  readonly fencingToken: number;
  /** Date.now() when granted. */
  readonly grantedAt: number;
  /** Milliseconds the request waited in the queue. */
  readonly waitedMs: number;
  /** Fires if the backend revokes or loses the hold. */
  readonly lost: AbortSignal;
  /**
   * Gives the units back; idempotent (a second call does nothing and returns false). In-process
   * ledgers answer synchronously; a remote ledger (Redis) answers with a promise of the same
   * boolean once the release has reached it, and rejects (E_BACKEND_UNAVAILABLE) when it could
   * not be applied after its retries (the hold then ends by its TTL).
   */
  release(): boolean | Promise<boolean>;
}

/**
 * Result of releasing by token (for callers that kept only the token). 'release-failed': a
 * remote ledger could not be reached after its retries (counted; the hold ends by its TTL).
 */
export type ReleaseResult = 'released' | 'already-released' | 'not-owner' | 'release-failed';

export interface HolderView {
  token: string;
  fencingToken: number;
  units: number;
  grantedAt: number;
  holder: HolderInfo;
}

export interface WaiterView {
  /** 0 = next in line. */
  position: number;
  units: number;
  priority: number;
  enqueuedAt: number;
  deadline: number | null;
  holder: HolderInfo;
}

export interface ResourceView {
  resource: string;
  capacity: number;
  external: number;
  closed: boolean;
  /** Units granted (declared by holders). */
  declared: number;
  holders: HolderView[];
  waiters: WaiterView[];
}

export interface BackendSnapshot {
  kind: string;
  resources: ResourceView[];
  /** Releases with a wrong token, refused. */
  ownershipViolations: number;
  /**
   * Date.now() when the figures were read, where they come from a cache of a remote ledger
   * (see {@link Backend.refresh}); absent for a live in-process view.
   */
  asOf?: number;
}

/** Failures of a remote ledger the arbiter turns into events, metrics and alerts. */
export interface BackendObserver {
  /** The ledger cannot be reached: new requests fail (or go to a fallback); holds start to age. */
  down(error: Error | null): void;
  /** The ledger is reachable again. */
  up(): void;
  /** Renewing holds failed; they are not lost yet (`remainingMs` before the first would be). */
  renewalFailing(event: { resource: string; error: Error; remainingMs: number }): void;
  /** A release could not be applied after every retry: needs an alert (the hold ends by its TTL). */
  criticalFailure(event: { kind: 'release-failed'; resource: string; fencingToken: number; error: Error }): void;
}

/** Which GPU: its index in this process's NVML numbering and its UUID (null where unknown). */
export interface GpuIdentity {
  index: number;
  uuid: string | null;
}

/** Per-resource figures the arbiter reads synchronously on every placement. */
export interface ResourceUsage {
  capacity: number;
  external: number;
  declared: number;
  closed: boolean;
  /** Waiters queued on the resource. */
  waiting: number;
  /** Priority of the next waiter in line; null when none waits. */
  headPriority: number | null;
}

/**
 * A backend: ledger + wait queue. Implementations: LocalBackend (one isolate), HostBackend (all
 * processes of a host), RedisBackend (all hosts).
 */
export interface Backend {
  /** What the backend is, for people ('local', 'host', 'redis'); the arbiter never branches on it. */
  readonly kind: string;
  /**
   * True where other processes share the ledger (host, redis). A GPU this arbiter stops managing
   * (configure() took it out of `devices`) is then not closed: the others may still use it.
   * @default false
   */
  readonly shared?: boolean;
  /** True where a fallback ledger takes requests while this one cannot be reached. @default false */
  readonly hasFallback?: boolean;
  /** The node this backend's GPUs belong to, where the ledger spans nodes (redis); absent otherwise. */
  readonly nodeId?: string;
  /**
   * The resource name of a GPU in this ledger: every process sharing the ledger must name one GPU
   * alike (by UUID on a host, by node on Redis). @default `gpu:<index>`
   */
  gpuResource?(gpu: GpuIdentity): string;
  /** Ledgers that span nodes: the live nodes and their GPUs' use. */
  cluster?(): Promise<ClusterView>;
  /**
   * Optional one-step acquire for the hot path: the Grant itself when it is granted at once, else
   * the promise of one (the request is queued by this call, exactly as acquire() would). Throws
   * synchronously what acquire() would reject with before waiting. A backend whose ledger can grant
   * inline (host) reaches it once per uncontended request instead of twice (tryAcquire + acquire).
   */
  acquireOrQueue?(request: AcquireRequest): Grant | Promise<Grant>;
  /**
   * The holders and waiters of one resource (what inspect() has for it), where that is cheaper
   * than the whole view; null when the resource is unknown. The arbiter uses it for one request's
   * queue position. @default the resource's entry of inspect()
   */
  resourceView?(resource: string): ResourceView | null;
  /**
   * Declares a resource or updates its capacity; re-runs admission for its waiters. May return
   * a promise where the ledger is remote (Redis); the arbiter awaits it and never overlaps two.
   */
  setResource(resource: string, spec: ResourceSpec): void | Promise<void>;
  /**
   * Current figures of a resource, or null if it was never declared. May be a live view (the
   * local backend returns its own state, to allocate nothing per placement): read it at once.
   */
  usage(resource: string): Readonly<ResourceUsage> | null;
  /** Grants at once where it fits and nobody is ahead; otherwise waits (see AcquireRequest). */
  acquire(request: AcquireRequest): Promise<Grant>;
  /**
   * Optional synchronous fast path: the grant if acquire() would grant at once, else null (and
   * nothing is queued). Throws what acquire() would reject with before waiting (E_DOES_NOT_FIT,
   * E_ABORTED, ...). Lets the uncontended case skip a promise step; backends that cannot answer
   * synchronously leave it out.
   */
  tryAcquire?(request: AcquireRequest): Grant | null;
  /**
   * Optional: every resource of the request in one step, or none: no other user of the ledger
   * ever sees a part of it held, and two such requests never deadlock. Resolves with one Grant
   * per resource, in the order asked; releasing any of them gives the whole set back. Backends
   * without it cannot serve a job that needs several GPUs (the arbiter refuses `gpus` > 1).
   */
  acquireSet?(request: SetRequest): Promise<Grant[]>;
  /**
   * Cluster scope (Redis): the ledger itself places the request on any live node's GPUs that fit
   * and queues it across nodes when none does. Backends without it serve node scope only.
   */
  acquirePool?(request: PoolRequest): Promise<PoolGrant>;
  /** Release by token: a wrong token is refused and counted, never applied. Remote: a promise. */
  release(resource: string, token: string): ReleaseResult | Promise<ReleaseResult>;
  /** Takes a hold away: frees its units and aborts its `lost` signal. False if not held. Remote: a promise. */
  revoke(resource: string, token: string, reason?: LostReason): boolean | Promise<boolean>;
  /**
   * Plain-data view of every resource, holder and waiter; synchronous (snapshot() and metrics()
   * read it). A remote backend serves it from a cache that {@link refresh} updates (`asOf`
   * says when); its `ownershipViolations` is always current.
   */
  inspect(): BackendSnapshot;
  /** Remote backends: re-reads the view inspect() serves. The arbiter calls it on every sample. */
  refresh?(): Promise<void>;
  /** Remote backends: tells the observer about outages and failures (the arbiter sets one). */
  observe?(observer: BackendObserver): void;
  /** Remote backends: false while the ledger cannot be reached. @default true */
  readonly available?: boolean;
  /** Rejects waiters with E_CLOSED and aborts every hold's `lost`. */
  close(): Promise<void>;
}
