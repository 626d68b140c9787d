// prom-client adapter. prom-client is an optional peer dependency: nothing here imports it unless
// the caller asks for its default registry. The arbiter's figures are registered as collectors
// that read arbiter.metrics() at scrape time, so there is one source of truth and no double
// counting between our counters and prom-client's.
import { GpuArbiterError } from '../errors';
import type { MetricFamily } from './counters';

/** Whatever serves metric families (a GpuArbiter does). */
export interface MetricsSource {
  metrics(): MetricFamily[];
}

/** The part of a prom-client Registry this adapter uses. */
export interface PromRegistryLike {
  registerMetric(metric: unknown): void;
  removeSingleMetric?(name: string): void;
}

interface PromValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

function toPromValues(f: MetricFamily): PromValue[] {
  if (f.type !== 'histogram') return f.samples.map((s) => ({ labels: s.labels, value: s.value }));
  const out: PromValue[] = [];
  for (const s of f.samples) {
    for (const [le, count] of s.buckets) out.push({ labels: { ...s.labels, le }, value: count, metricName: `${f.name}_bucket` });
    out.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${f.name}_bucket` });
    out.push({ labels: s.labels, value: s.sum, metricName: `${f.name}_sum` });
    out.push({ labels: s.labels, value: s.count, metricName: `${f.name}_count` });
  }
  return out;
}

/**
 * Registers every arbiter metric (names from docs/design.md) in a prom-client registry.
 * @param registry a prom-client Registry. @default prom-client's global `register`
 * @returns a function that unregisters them
 * @example
 * import { Registry } from 'prom-client';
 * const registry = new Registry();
 * registerMetrics(arbiter, registry);
 * res.end(await registry.metrics());
 */
export function registerMetrics(arbiter: MetricsSource, registry?: PromRegistryLike): () => void {
  const reg = registry ?? defaultRegistry();
  if (typeof reg?.registerMetric !== 'function') {
    throw new GpuArbiterError('E_INVALID_ARGUMENT', 'Expected a prom-client Registry for registry', { field: 'registry' });
  }
  // One read of arbiter.metrics() serves every family of the same scrape.
  let cache: { at: number; families: Map<string, MetricFamily> } | null = null;
  const family = (name: string): MetricFamily | undefined => {
    const now = Date.now();
    if (cache === null || now - cache.at > 0) cache = { at: now, families: new Map(arbiter.metrics().map((f) => [f.name, f])) };
    return cache.families.get(name);
  };
  const names = arbiter.metrics().map((f) => ({ name: f.name, help: f.help, type: f.type }));
  for (const { name, help, type } of names) {
    reg.registerMetric({
      name,
      help,
      type,
      aggregator: 'sum',
      get: async () => {
        const f = family(name);
        return { name, help, type, aggregator: 'sum', values: f === undefined ? [] : toPromValues(f) };
      },
      reset: () => undefined,
    });
  }
  return () => {
    for (const { name } of names) reg.removeSingleMetric?.(name);
  };
}

function defaultRegistry(): PromRegistryLike {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('prom-client') as { register: PromRegistryLike }).register;
  } catch (err) {
    throw new GpuArbiterError(
      'E_INVALID_ARGUMENT',
      'registerMetrics() without a registry needs prom-client (an optional peer dependency): npm install prom-client',
      {},
      { cause: err },
    );
  }
}
