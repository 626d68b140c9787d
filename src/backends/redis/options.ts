// RedisLeases' options, checked at the boundary (field-naming messages) with their defaults.
import { integerInRange, invalid, knownKeys, optionsObject } from '../../util/validate';
import { checkTarget, type RedisTarget } from './connection';
import { checkNamespace } from './limits';
import type { CriticalFailureEvent, RedisLeasesOptions } from './types';

const OPTION_KEYS = [
  'redis',
  'namespace',
  'leaseTtlMs',
  'waiterTtlMs',
  'pollMs',
  'commandTimeoutMs',
  'releaseRetries',
  'onCriticalFailure',
  'connectTimeoutMs',
] as const;

/** RedisLeasesOptions, checked, with every default filled in. */
export interface LeasesConfig {
  target: RedisTarget;
  namespace: string;
  leaseTtlMs: number;
  waiterTtlMs: number;
  pollMs: number;
  commandTimeoutMs: number;
  releaseRetries: number;
  onCriticalFailure: ((e: CriticalFailureEvent) => void) | undefined;
  connectTimeoutMs: number;
}

/** Checks the options (in this order, so the first wrong field is the one reported). */
export function parseLeasesOptions(options: RedisLeasesOptions): LeasesConfig {
  const opts = optionsObject<RedisLeasesOptions>('options', options);
  knownKeys('options', opts, OPTION_KEYS);
  const target = checkTarget('options.redis', opts.redis);
  const namespace = opts.namespace === undefined ? 'default' : checkNamespace('options.namespace', opts.namespace);
  const leaseTtlMs = opts.leaseTtlMs === undefined ? 10_000 : integerInRange('options.leaseTtlMs', opts.leaseTtlMs, 100, 86_400_000);
  const waiterTtlMs = opts.waiterTtlMs === undefined ? Math.min(leaseTtlMs, 5000) : integerInRange('options.waiterTtlMs', opts.waiterTtlMs, 100, 86_400_000);
  const pollMs = opts.pollMs === undefined ? Math.max(30, Math.floor(waiterTtlMs / 3)) : integerInRange('options.pollMs', opts.pollMs, 10, 86_400_000);
  const commandTimeoutMs = opts.commandTimeoutMs === undefined ? 2000 : integerInRange('options.commandTimeoutMs', opts.commandTimeoutMs, 10, 600_000);
  const releaseRetries = opts.releaseRetries === undefined ? 3 : integerInRange('options.releaseRetries', opts.releaseRetries, 0, 100);
  if (opts.onCriticalFailure !== undefined && typeof opts.onCriticalFailure !== 'function') {
    throw invalid('options.onCriticalFailure', 'a function', opts.onCriticalFailure);
  }
  const connectTimeoutMs = opts.connectTimeoutMs === undefined ? 5000 : integerInRange('options.connectTimeoutMs', opts.connectTimeoutMs, 1, 600_000);
  return {
    target,
    namespace,
    leaseTtlMs,
    waiterTtlMs,
    pollMs,
    commandTimeoutMs,
    releaseRetries,
    onCriticalFailure: opts.onCriticalFailure,
    connectTimeoutMs,
  };
}
