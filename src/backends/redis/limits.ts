// Bounds on what callers hand the Redis backend, checked at its boundary with field-naming
// messages (E_INVALID_ARGUMENT): every name becomes part of a Redis key, a hash tag or a record
// every process reads, so none is unbounded and none can break the key layout (./keys.ts).
import { GpuArbiterError } from '../../errors';
import { describe, invalid, nonEmptyString } from '../../util/validate';

/** Longest namespace (characters). */
export const MAX_NAMESPACE_LENGTH = 128;
/** Longest resource name (characters); a GPU's is `<nodeId>/gpu<index>`. */
export const MAX_RESOURCE_LENGTH = 256;
/** Longest node id (characters): its GPUs' resource names must stay within MAX_RESOURCE_LENGTH. */
export const MAX_NODE_ID_LENGTH = 200;
/** Longest holder.leaseId, holder.task, holder.host and queueGroup (characters). */
export const MAX_LABEL_LENGTH = 256;
/** Largest holder record, as JSON (bytes): it is stored with every waiter and holder. */
export const MAX_HOLDER_BYTES = 4096;
/** Longest lease token accepted by release() and revoke() (ours are 32 hex characters). */
export const MAX_TOKEN_LENGTH = 128;
/** Longest revoke reason kept (characters); a longer one is cut. */
export const MAX_REASON_LENGTH = 256;

function tooLong(field: string, max: number, value: string): GpuArbiterError {
  return new GpuArbiterError('E_INVALID_ARGUMENT', `Expected at most ${max} characters for ${field} but received ${value.length} (${describe(value)})`, {
    field,
  });
}

/** A non-empty string of at most `max` characters. */
export function boundedString(field: string, value: unknown, max: number): string {
  const s = nonEmptyString(field, value);
  if (s.length > max) throw tooLong(field, max, s);
  return s;
}

/** A namespace: 1..128 characters, none of `{`, `}` (hash tags) or `|` (the key escape, see ./keys.ts). */
export function checkNamespace(field: string, value: unknown): string {
  const s = boundedString(field, value, MAX_NAMESPACE_LENGTH);
  if (/[{}|]/.test(s)) throw invalid(field, 'a name without {, } or |', s);
  return s;
}

/** A resource name: 1..256 characters, no `{` or `}` (they would break the resource's hash tag). */
export function checkResource(field: string, value: unknown): string {
  const s = boundedString(field, value, MAX_RESOURCE_LENGTH);
  if (/[{}]/.test(s)) throw invalid(field, 'a resource name without { or }', s);
  return s;
}

/** A node id: 1..200 characters, none of `{`, `}` or `|`. */
export function checkNodeId(field: string, value: unknown): string {
  const s = boundedString(field, value, MAX_NODE_ID_LENGTH);
  if (/[{}|]/.test(s)) throw invalid(field, 'a name without {, } or |', s);
  return s;
}

/** A lease token given to release() or revoke(): 1..128 characters. */
export function checkToken(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'a lease token (a non-empty string)', value);
  return boundedString(field, value, MAX_TOKEN_LENGTH);
}
