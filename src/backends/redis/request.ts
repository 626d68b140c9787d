// Validation of a RedisLeases acquire request, at the boundary (field-naming messages).
import { integerInRange, invalid, knownKeys, nonEmptyString, optionsObject } from '../../util/validate';
import { PRIORITY_MAX } from './lua/prelude';
import type { RedisAcquireRequest, RedisHolderInfo } from './types';

const REQUEST_KEYS = ['resource', 'units', 'priority', 'deadline', 'signal', 'holder', 'queueGroup', 'queueLimit', 'onLost'] as const;

/** The largest unit count a request may ask for (the scripts keep it in a Lua integer). */
export const MAX_UNITS = 2 ** 31 - 1;

/** Validates an acquire request; returns it with its checked fields. */
export function checkRequest(request: RedisAcquireRequest): RedisAcquireRequest {
  const r = optionsObject<RedisAcquireRequest>('request', request);
  knownKeys('request', r, REQUEST_KEYS);
  const resource = nonEmptyString('request.resource', r.resource);
  const units = integerInRange('request.units', r.units, 1, MAX_UNITS);
  const priority = integerInRange('request.priority', r.priority, 0, PRIORITY_MAX);
  if (r.deadline !== undefined && (typeof r.deadline !== 'number' || !Number.isFinite(r.deadline))) {
    throw invalid('request.deadline', 'a time in ms since epoch', r.deadline);
  }
  if (r.signal !== undefined && !(r.signal instanceof AbortSignal)) throw invalid('request.signal', 'an AbortSignal', r.signal);
  const holder = optionsObject<RedisHolderInfo>('request.holder', r.holder);
  if (r.holder === undefined) throw invalid('request.holder', 'an object { leaseId, task, pid }', r.holder);
  nonEmptyString('request.holder.leaseId', holder.leaseId);
  nonEmptyString('request.holder.task', holder.task);
  integerInRange('request.holder.pid', holder.pid, 0, 2 ** 31 - 1);
  if (r.queueGroup !== undefined) nonEmptyString('request.queueGroup', r.queueGroup);
  if (r.queueLimit !== undefined) integerInRange('request.queueLimit', r.queueLimit, 0, MAX_UNITS);
  if (r.onLost !== undefined && typeof r.onLost !== 'function') throw invalid('request.onLost', 'a function', r.onLost);
  return { ...(r as RedisAcquireRequest), resource, units, priority };
}
