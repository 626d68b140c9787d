// Validation of a cluster-scope request (RedisLeases.acquirePool), at the boundary.
import { integerInRange, invalid, knownKeys, optionsObject } from '../../util/validate';
import { boundedString, MAX_LABEL_LENGTH } from './limits';
import type { PoolPlacement, RedisPoolRequest } from './pool-types';
import type { RedisAcquireRequest } from './types';
import { checkRequest, MAX_SET, type CheckedRequest } from './request';

const POOL_KEYS = ['units', 'priority', 'deadline', 'signal', 'holder', 'onLost', 'gpus', 'labels', 'placement'] as const;

/** At most this many labels in a selector (each key and value at most MAX_LABEL_LENGTH). */
export const MAX_SELECTOR_LABELS = 32;

export interface CheckedPoolRequest {
  req: CheckedRequest;
  gpus: number;
  selectorJson: string;
  placement: PoolPlacement;
}

/** Checks a label map (a node's labels or a request's selector): string keys and values, bounded. */
export function checkLabels(field: string, labels: unknown): Record<string, string> {
  if (labels === undefined) return {};
  const o = optionsObject<Record<string, unknown>>(field, labels);
  const entries = Object.entries(o);
  if (entries.length > MAX_SELECTOR_LABELS) throw invalid(field, `at most ${MAX_SELECTOR_LABELS} labels`, labels);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    boundedString(`${field} key`, k, MAX_LABEL_LENGTH);
    out[k] = boundedString(`${field}.${k}`, v, MAX_LABEL_LENGTH);
  }
  return out;
}

export function checkPoolRequest(request: RedisPoolRequest): CheckedPoolRequest {
  const r = optionsObject<RedisPoolRequest>('request', request);
  knownKeys('request', r, POOL_KEYS);
  const gpus = r.gpus === undefined ? 1 : integerInRange('request.gpus', r.gpus, 1, MAX_SET);
  const placement = r.placement ?? 'binpack';
  if (placement !== 'binpack' && placement !== 'spread') throw invalid('request.placement', "'binpack' or 'spread'", r.placement);
  const labels = checkLabels('request.labels', r.labels);
  const { gpus: _g, labels: _l, placement: _p, ...rest } = r;
  const req = checkRequest({ ...rest, resource: 'pool' } as RedisAcquireRequest);
  // '{}' for an empty selector: cjson reads it as an empty table either way.
  return { req: { ...req, resource: `pool (${gpus} GPU${gpus > 1 ? 's' : ''})` }, gpus, selectorJson: JSON.stringify(labels), placement };
}
