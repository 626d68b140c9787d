// The errors RedisLeases ends a request with, and the parsing of script replies.
import { GpuArbiterError } from '../../errors';
import { settleWithin, unavailable } from './connection';
import type { RedisAcquireRequest, RedisHolderInfo, ResourceUsage } from './types';

/** The usage tuple every per-resource script reply ends with (see src/backends/redis/lua/prelude.ts); a pool GPU's adds the pool epoch. */
export type UsageTuple = [number, number, number, number, number, number] | [number, number, number, number, number, number, string];

/** A usage tuple as ResourceUsage; capacity -1 when the resource is unknown to Redis (or no tuple came). */
export function usageOf(t: UsageTuple | undefined): ResourceUsage {
  return t
    ? {
        capacity: Number(t[0]),
        external: Number(t[1]),
        declared: Number(t[2]),
        closed: Number(t[3]) === 1,
        waiting: Number(t[4]),
        headPriority: Number(t[5]) >= 0 ? Number(t[5]) : null,
      }
    : { capacity: -1, external: 0, declared: 0, closed: false, waiting: 0, headPriority: null };
}

/** An acquire script's refusal status as a typed error. */
export function refusal(status: string, req: RedisAcquireRequest): GpuArbiterError {
  const details = { resource: req.resource, units: req.units };
  switch (status) {
    case 'nores':
      return new GpuArbiterError('E_INVALID_ARGUMENT', `Unknown resource "${req.resource}": call setResource() first`, details);
    case 'nofit':
      return new GpuArbiterError('E_DOES_NOT_FIT', `${req.units} units can never fit ${req.resource}: more than its capacity`, details);
    case 'full':
      return new GpuArbiterError('E_QUEUE_FULL', `The queue of ${req.resource} is full (limit ${req.queueLimit})`, details);
    case 'closed':
      return new GpuArbiterError('E_CLOSED', `${req.resource} is closed: nothing new is granted`, details);
    case 'busy':
      return new GpuArbiterError('E_TIMEOUT', `${req.resource} is busy and the deadline has passed`, details);
    default:
      return unavailable(`Unexpected reply "${status}" from the acquire script`);
  }
}

export function abortedError(resource: string): GpuArbiterError {
  return new GpuArbiterError('E_ABORTED', `The wait for ${resource} was aborted`, { resource });
}

export function timeoutError(resource: string, deadline: number): GpuArbiterError {
  return new GpuArbiterError('E_TIMEOUT', `Timed out waiting for ${resource} (deadline ${new Date(deadline).toISOString()})`, {
    resource,
    deadline,
  });
}

/** Any failure of a Redis call, as E_BACKEND_UNAVAILABLE (typed errors pass through). */
export function asUnavailable(err: unknown): GpuArbiterError {
  if (err instanceof GpuArbiterError) return err;
  return unavailable(`Redis call failed: ${err instanceof Error ? err.message : String(err)}`, err);
}

/** A JSON object from a script reply; {} when it is not one. */
export function parseJson(raw: string): Record<string, unknown> {
  try {
    const v = JSON.parse(raw) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A holder record from a script reply (JSON), or null. */
export function parseHolder(raw: unknown): RedisHolderInfo | null {
  if (typeof raw !== 'string') return null;
  const h = parseJson(raw);
  return Object.keys(h).length ? (h as RedisHolderInfo) : null;
}

/** Rejects with E_BACKEND_UNAVAILABLE when `p` takes longer than `ms`. */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return settleWithin(
    p.catch((e: unknown) => Promise.reject(asUnavailable(e))),
    ms,
    () => unavailable(`Redis ${what} did not finish within ${ms} ms`),
  );
}

/** A promise that resolves after `ms` without holding the process open. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
