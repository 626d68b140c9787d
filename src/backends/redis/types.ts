// Public shapes of the Redis backend (RedisLeases). They follow the backend contract
// (src/backends/contract.ts; docs/design.md, "The backend contract"); where the network forces a
// difference (release and inspect are async) it is said.
import type { HolderInfo, ResourceUsage } from '../contract';
import type { GpuArbiterError } from '../../errors';
import type { RedisTarget } from './connection';

/**
 * Who holds or waits, as Redis keeps it (shown by inspect()): the contract's HolderInfo
 * ({ leaseId, task, pid }), the host, and any further JSON fields the caller adds.
 */
export interface RedisHolderInfo extends HolderInfo {
  /** Defaults to os.hostname(). */
  host?: string;
  [key: string]: unknown;
}

/**
 * @deprecated use RedisHolderInfo (the contract's HolderInfo plus `host`): the old name clashed
 * with the arbiter's own LeaseHolder. Kept for compatibility.
 */
export type LeaseHolder = RedisHolderInfo;

export interface RedisAcquireRequest {
  resource: string;
  /** VRAM MiB for memory resources, 1 for a plain mutex. */
  units: number;
  /** Higher first; FIFO within one priority. 0 to 1,000,000. */
  priority: number;
  /** Give up at this time (ms since epoch, this host's clock) with E_TIMEOUT; at or before now: try once. */
  deadline?: number;
  /** Abort the wait (E_ABORTED); the waiter leaves the queue at once. */
  signal?: AbortSignal;
  holder: RedisHolderInfo;
  /** Count queueLimit over the waiters of this group (e.g. one task type) instead of the whole queue. */
  queueGroup?: string;
  /** Refuse with E_QUEUE_FULL when this many already wait (0 or unset: no limit). */
  queueLimit?: number;
  /** Called once when the lease is lost (also signalled through grant.lost). */
  onLost?: (error: GpuArbiterError) => void;
}

/** What release() found. 'release-failed': Redis could not be reached after the retries (counted, reported; the lease ends by its TTL). */
export type ReleaseOutcome = 'released' | 'already-released' | 'not-owner' | 'release-failed';

export interface RedisGrant {
  resource: string;
  units: number;
  /** Ownership token: only its holder can release with it. */
  token: string;
  /** Strictly increasing per resource, across processes and hosts (Redis INCR on every grant). */
  fencingToken: number;
  /** When Redis granted it (Redis server clock, ms since epoch). */
  grantedAt: number;
  /** How long the request waited in the queue (Redis server clock). */
  waitedMs: number;
  /** Aborts with an E_LEASE_LOST error when the hold is gone: TTL expiry, failed renewal, revoke, close. */
  lost: AbortSignal;
  /** Ends the lease. Async (a network round trip); idempotent: a second call resolves 'already-released'. */
  release(): Promise<ReleaseOutcome>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface ResourceSettings {
  /** Units that can be granted at once. */
  capacity: number;
  /** Units used outside the ledger (e.g. VRAM of processes holding no grant). @default 0 */
  external?: number;
  /** Closed: nothing new is granted; new requests fail with E_CLOSED. @default false */
  closed?: boolean;
}

/** The same per-resource figures as every backend's (the arbiter reads them on each placement). */
export type { ResourceUsage };

export interface InspectHolder {
  token: string;
  fencingToken: number;
  units: number;
  grantedAt: number;
  /** Lease expiry, Redis server clock (ms since epoch). */
  expiresAt: number;
  holder: RedisHolderInfo | null;
}

export interface InspectWaiter {
  /** 0 = head of the queue. */
  position: number;
  units: number;
  priority: number;
  enqueuedAt: number;
  /** Redis server clock; null when the waiter has no deadline. */
  deadline: number | null;
  holder: RedisHolderInfo | null;
}

export interface InspectResource extends ResourceUsage {
  resource: string;
  holders: InspectHolder[];
  waiters: InspectWaiter[];
  /** Refused releases counted by Redis for this resource (all processes). */
  ownershipViolations: number;
}

export interface RedisInspectView {
  kind: 'redis';
  namespace: string;
  resources: InspectResource[];
  /** Refused releases seen by this process. */
  ownershipViolations: number;
}

/** Payload of 'renewal-failing': renewing failed, the lease is not lost yet. */
export interface RenewalFailingEvent {
  resource: string;
  tokens: string[];
  error: GpuArbiterError;
  /** Time left before the first of these leases is given up as lost (ms). */
  remainingMs: number;
}

export interface LeaseLostEvent {
  resource: string;
  token: string;
  fencingToken: number;
  reason: 'expired' | 'renewal-failed' | 'revoked' | 'closed' | 'node-lost';
  detail: string;
}

/** Passed to onCriticalFailure: something that needs a human or an alert. */
export interface CriticalFailureEvent {
  kind: 'release-failed';
  resource: string;
  token: string;
  fencingToken: number;
  attempts: number;
  error: GpuArbiterError;
}

export interface RedisLeasesCounters {
  /** Releases refused because the token did not own the lease (this process). */
  ownershipViolations: number;
  /** Releases that failed after every retry. */
  releaseFailures: number;
  /** Renewal calls that failed (each failed try counts). */
  renewalFailures: number;
  /** Leases whose lost signal fired. */
  leasesLost: number;
  /** Scripts sent in full after NOSCRIPT. */
  scriptLoads: number;
}

export interface RedisLeasesEvents {
  'renewal-failing': [event: RenewalFailingEvent];
  'renewal-recovered': [event: { resource: string }];
  'lease-lost': [event: LeaseLostEvent];
  'critical-failure': [event: CriticalFailureEvent];
  /** The connection to Redis went away / came back. */
  'backend-down': [error: Error | null];
  'backend-up': [];
  /** An error inside a timer or a message handler (never thrown). */
  'backend-error': [error: Error];
}

export interface RedisLeasesOptions {
  redis: RedisTarget;
  /** Keeps separate arbiters apart on one Redis. @default 'default' */
  namespace?: string;
  /** Holder lease TTL; renewed every leaseTtlMs / 3 while the process lives. @default 10000 */
  leaseTtlMs?: number;
  /** A waiter's heartbeat TTL: a waiter whose process died is pruned after this. @default min(leaseTtlMs, 5000) */
  waiterTtlMs?: number;
  /** The longest a waiter goes without re-checking the queue (the safety net under pub/sub). @default waiterTtlMs / 3 */
  pollMs?: number;
  /** A single Redis call fails with E_BACKEND_UNAVAILABLE after this long. @default 2000 */
  commandTimeoutMs?: number;
  /** Release attempts after the first before it is counted as a failure. @default 3 */
  releaseRetries?: number;
  /** Called (never awaited, errors swallowed) when a release fails for good. */
  onCriticalFailure?: (event: CriticalFailureEvent) => void;
  /** How long open() waits for Redis. @default 5000 */
  connectTimeoutMs?: number;
}
