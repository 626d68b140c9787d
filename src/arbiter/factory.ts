// Builds what an arbiter runs on from create()'s options: the backend (the one place that knows
// every backend by name), the monitor, and for Redis the node registry. Whatever it made and the
// arbiter did not take over is closed again when creation fails.
import * as os from 'node:os';
import type { Backend } from '../backends/contract';
import { FailoverBackend, defaultHostFallback } from '../backends/failover';
import { HostBackend } from '../backends/host/backend';
import { LocalBackend } from '../backends/local/backend';
import { RedisBackend } from '../backends/redis/backend';
import { NodeRegistry } from '../backends/redis/node-registry';
import { GpuMonitor } from '../gpu/monitor';
import type { GpuView } from '../gpu/view';
import { parseCreateOptions, type ArbiterConfig, type GpuArbiterOptions } from './options';
import type { ArbiterExtra } from './types';

/** What an arbiter is made of; the arbiter closes what it owns. */
export interface ArbiterParts {
  config: ArbiterConfig;
  backend: Backend;
  /** Made here from a name (not the caller's instance): the arbiter closes it. */
  ownsBackend: boolean;
  monitor: GpuView;
  /** Stops a monitor made here; null for the caller's. */
  stopMonitor: (() => Promise<void>) | null;
  extra: ArbiterExtra;
  /** backend 'redis': registers this node's GPUs once the arbiter runs; null otherwise. */
  startRegistry: (() => Promise<{ stop(): Promise<void> }>) | null;
}

/** Validates `options`, makes the parts, and hands them to `build` (the arbiter's constructor and start). */
export async function createArbiter<T>(options: GpuArbiterOptions, build: (parts: ArbiterParts) => Promise<T>): Promise<T> {
  const { config, options: o } = parseCreateOptions(options);
  const extra: ArbiterExtra = {
    onCriticalFailure: o.onCriticalFailure,
    onAlert: o.onAlert,
    criticalLog: o.criticalLog,
    idleMs: o.idleMs,
    demandDebounceMs: o.demandDebounceMs,
    cluster: o.scope === 'cluster' ? { labels: { ...(o.nodes?.labels ?? {}) } } : null,
  };
  const made = await makeBackend(o);
  let monitor: GpuView;
  let stopMonitor: (() => Promise<void>) | null = null;
  try {
    if (o.monitor !== undefined) monitor = o.monitor;
    else {
      // Constructing it is what loads the native addon, so a given GpuView never does.
      const m = await GpuMonitor.create(o.monitorOptions ?? {});
      monitor = m;
      stopMonitor = () => m.stop();
    }
  } catch (err) {
    if (made.owns) await made.backend.close().catch(() => undefined);
    throw err;
  }
  try {
    return await build({
      config,
      backend: made.backend,
      ownsBackend: made.owns,
      monitor,
      stopMonitor,
      extra,
      startRegistry: made.startRegistry === null ? null : () => made.startRegistry!(monitor),
    });
  } catch (err) {
    if (stopMonitor !== null) await stopMonitor();
    if (made.owns) await made.backend.close().catch(() => undefined);
    throw err;
  }
}

interface MadeBackend {
  backend: Backend;
  owns: boolean;
  startRegistry: ((monitor: GpuView) => Promise<{ stop(): Promise<void> }>) | null;
}

async function makeBackend(o: Partial<GpuArbiterOptions>): Promise<MadeBackend> {
  if (o.backend === 'redis') return makeRedisBackend(o);
  if (o.backend === 'host') return { backend: new HostBackend({ namespace: o.namespace ?? 'default' }), owns: true, startRegistry: null };
  if (o.backend === undefined || o.backend === 'local') return { backend: new LocalBackend({ agingMs: o.agingMs }), owns: true, startRegistry: null };
  return { backend: o.backend, owns: false, startRegistry: null };
}

/** backend 'redis': the Redis backend (with its fallback where configured) and the node registry. */
async function makeRedisBackend(o: Partial<GpuArbiterOptions>): Promise<MadeBackend> {
  const namespace = o.namespace ?? 'default';
  const reg = typeof o.registerNode === 'object' ? o.registerNode : {};
  const nodeId = o.nodeId ?? reg.nodeId ?? os.hostname();
  // Resolved before connecting: an unavailable fallback is a configuration error, said at once.
  const fallbackFactory = o.onBackendError === 'host' ? (o.fallback ?? defaultHostFallback(namespace)) : null;
  const fallback = fallbackFactory === null ? null : await fallbackFactory();
  let backend: Backend;
  try {
    const redis = await RedisBackend.open({
      redis: o.redis!,
      namespace,
      nodeId,
      ...(o.leaseTtlMs === undefined ? {} : { leaseTtlMs: o.leaseTtlMs }),
      ...(o.redisOptions ?? {}),
    });
    backend = fallback === null ? redis : new FailoverBackend(redis, fallback);
  } catch (err) {
    await fallback?.close();
    throw err;
  }
  // A cluster-scope client asks for other nodes' GPUs: it registers a node only when told to.
  const register = o.registerNode === undefined ? o.scope !== 'cluster' : o.registerNode !== false;
  const ttlMs = register ? (reg.ttlMs ?? 15_000) : null;
  const extra = { ...(reg.labels ? { labels: reg.labels } : {}), ...(reg.address ? { address: reg.address } : {}) };
  const startRegistry = ttlMs === null ? null : (monitor: GpuView) => NodeRegistry.start({ redis: o.redis!, namespace, nodeId, monitor, ttlMs, ...extra });
  return { backend, owns: true, startRegistry };
}
