// Validation of a RedisLeases acquire request, at the boundary (field-naming messages). The
// bounds on names and on the holder record are those of ./limits.ts.
import * as os from 'node:os';
import { GpuArbiterError } from '../../errors';
import { integerInRange, invalid, knownKeys, optionsObject } from '../../util/validate';
import { boundedString, checkResource, MAX_HOLDER_BYTES, MAX_LABEL_LENGTH } from './limits';
import { PRIORITY_MAX } from './lua/prelude';
import { resourceGroup } from './keys';
import type { RedisAcquireRequest, RedisHolderInfo } from './types';

const REQUEST_KEYS = ['resource', 'units', 'priority', 'deadline', 'signal', 'holder', 'queueGroup', 'queueLimit', 'onLost'] as const;

/** The largest unit count a request may ask for (the scripts keep it in a Lua integer). */
export const MAX_UNITS = 2 ** 31 - 1;

/** A checked request, with the holder record as Redis will keep it (JSON, `host` filled in). */
export type CheckedRequest = RedisAcquireRequest & { holderJson: string };

/** This host's name, read once: os.hostname() is a system call, and acquire() is a hot path. */
let hostName: string | undefined;

/** The holder record as JSON (host defaults to this host's name), at most MAX_HOLDER_BYTES. */
function holderJson(holder: RedisHolderInfo): string {
  let json: string;
  try {
    hostName ??= os.hostname();
    json = JSON.stringify({ host: hostName, ...holder });
  } catch (err) {
    throw invalid('request.holder', `an object JSON can write (${(err as Error).message})`, holder);
  }
  // UTF-8 takes at most 3 bytes per UTF-16 unit: a short record needs no count.
  const bytes = json.length * 3 <= MAX_HOLDER_BYTES ? json.length : Buffer.byteLength(json);
  if (bytes > MAX_HOLDER_BYTES) {
    throw new GpuArbiterError('E_INVALID_ARGUMENT', `Expected at most ${MAX_HOLDER_BYTES} bytes of JSON for request.holder but received ${bytes}`, {
      field: 'request.holder',
    });
  }
  return json;
}

/** A checked set request: `req` as for one resource (its resource names the set for messages). */
export interface CheckedSetRequest {
  resources: string[];
  req: CheckedRequest;
}

/** The most resources one set request takes (as the host ledger's). */
export const MAX_SET = 16;

/**
 * Validates a set request (RedisLeases.acquireSet): 2..MAX_SET distinct resources of one group
 * (`<group>/<name>`: their keys share one hash tag, ./keys.ts), and the rest as acquire's.
 */
export function checkSetRequest(resources: unknown, request: Omit<RedisAcquireRequest, 'resource'>): CheckedSetRequest {
  if (!Array.isArray(resources) || resources.length < 2 || resources.length > MAX_SET) {
    throw invalid('request.resources', `an array of 2 to ${MAX_SET} resource names`, resources);
  }
  const names = resources.map((r, i) => checkResource(`request.resources[${i}]`, r));
  const group = resourceGroup(names[0]!);
  if (group === null || names.some((r) => resourceGroup(r) !== group)) {
    throw invalid('request.resources', 'resources of one group ("<group>/<name>", e.g. one node\'s GPUs)', resources);
  }
  if (new Set(names).size !== names.length) throw invalid('request.resources', 'resource names without repeats', resources);
  const req = checkRequest({ ...request, resource: names[0]! } as RedisAcquireRequest);
  return { resources: names, req: { ...req, resource: names.join(' + ') } };
}

/** Validates an acquire request; returns it with its checked fields. */
export function checkRequest(request: RedisAcquireRequest): CheckedRequest {
  const r = optionsObject<RedisAcquireRequest>('request', request);
  knownKeys('request', r, REQUEST_KEYS);
  const resource = checkResource('request.resource', r.resource);
  const units = integerInRange('request.units', r.units, 1, MAX_UNITS);
  const priority = integerInRange('request.priority', r.priority, 0, PRIORITY_MAX);
  if (r.deadline !== undefined && (typeof r.deadline !== 'number' || !Number.isFinite(r.deadline))) {
    throw invalid('request.deadline', 'a time in ms since epoch', r.deadline);
  }
  if (r.signal !== undefined && !(r.signal instanceof AbortSignal)) throw invalid('request.signal', 'an AbortSignal', r.signal);
  const holder = optionsObject<RedisHolderInfo>('request.holder', r.holder);
  if (r.holder === undefined) throw invalid('request.holder', 'an object { leaseId, task, pid }', r.holder);
  boundedString('request.holder.leaseId', holder.leaseId, MAX_LABEL_LENGTH);
  boundedString('request.holder.task', holder.task, MAX_LABEL_LENGTH);
  integerInRange('request.holder.pid', holder.pid, 0, 2 ** 31 - 1);
  if (holder.host !== undefined) boundedString('request.holder.host', holder.host, MAX_LABEL_LENGTH);
  if (holder.label !== undefined) boundedString('request.holder.label', holder.label, MAX_LABEL_LENGTH);
  if (r.queueGroup !== undefined) boundedString('request.queueGroup', r.queueGroup, MAX_LABEL_LENGTH);
  if (r.queueLimit !== undefined) integerInRange('request.queueLimit', r.queueLimit, 0, MAX_UNITS);
  if (r.onLost !== undefined && typeof r.onLost !== 'function') throw invalid('request.onLost', 'a function', r.onLost);
  return { ...(r as RedisAcquireRequest), resource, units, priority, holderJson: holderJson(holder as RedisHolderInfo) };
}
