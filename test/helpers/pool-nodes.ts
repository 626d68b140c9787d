// Registered fake nodes for the cluster-pool suites: a NodeRegistry per node whose "GPUs" come
// from a stub snapshot, and each GPU's resource (`<nodeId>/gpu<i>`) set to its size in MiB, as a
// node's arbiter or `gpu-arbiter node` agent would from NVML.
import type { GpuDevice, GpuSnapshot } from '../../src/gpu/types';
import { RedisLeases } from '../../src/backends/redis/leases';
import { NodeRegistry } from '../../src/backends/redis/node-registry';

const MiB = 1024 * 1024;

/** A snapshot of GPUs of the given sizes (MiB), each with the given utilisation (%). */
export function stubSnapshot(sizesMiB: readonly number[], utilPct = 0): GpuSnapshot {
  const devices = sizesMiB.map(
    (size, index): GpuDevice => ({
      index,
      name: 'Stub GPU',
      uuid: `GPU-stub-${index}`,
      memory: { totalBytes: size * MiB, usedBytes: 0, freeBytes: size * MiB, reservedBytes: null },
      utilization: { gpuPercent: utilPct, memoryPercent: 0 },
      temperatureC: null,
      powerW: null,
      powerLimitW: null,
      persistenceMode: null,
      migMode: null,
      processes: [],
      error: null,
      fieldErrors: {},
    }),
  );
  return { seq: 1, takenAt: Date.now(), durationMs: 0, available: true, unavailableReason: null, devices } as unknown as GpuSnapshot;
}

export interface FakeNode {
  registry: NodeRegistry;
  leases: RedisLeases;
  stop(): Promise<void>;
}

/** Registers node `nodeId` with GPUs of `sizesMiB` and sets their resources; stop() unregisters it. */
export async function fakeNode(
  redis: string,
  namespace: string,
  nodeId: string,
  sizesMiB: readonly number[],
  options: { labels?: Record<string, string>; ttlMs?: number; utilPct?: number; leaseTtlMs?: number } = {},
): Promise<FakeNode> {
  const leases = await RedisLeases.open({ redis, namespace, ...(options.leaseTtlMs ? { leaseTtlMs: options.leaseTtlMs } : {}) });
  const snap = stubSnapshot(sizesMiB, options.utilPct ?? 0);
  const registry = await NodeRegistry.start({
    redis,
    namespace,
    nodeId,
    monitor: { snapshot: () => snap },
    leases,
    ttlMs: options.ttlMs ?? 15_000,
    ...(options.labels ? { labels: options.labels } : {}),
  });
  return {
    registry,
    leases,
    async stop() {
      await registry.stop();
      await leases.close();
    },
  };
}
