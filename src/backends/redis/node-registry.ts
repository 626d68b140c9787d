// The node registry: every node process writes its GPUs (from the NVML snapshot) under a
// heartbeat TTL; the cluster view is the set of nodes whose heartbeat is live. A node that
// stops (or dies) disappears once its TTL passes: every register and list call prunes.
import * as os from 'node:os';
import { inspect } from 'node:util';
import { GpuArbiterError } from '../../errors';
import type { LiveNode, NodeRecord } from '../cluster';
import type { GpuDevice, GpuSnapshot } from '../../gpu/types';
import { integerInRange, invalid, knownKeys, optionsObject } from '../../util/validate';
import { RedisConnection, checkTarget, type RedisTarget } from './connection';
import { namespaceKeys, poolKeyList } from './keys';
import { boundedString, checkNamespace, checkNodeId, MAX_LABEL_LENGTH } from './limits';
import { checkLabels } from './pool-request';
import { parseJson } from './replies';
import { SCRIPTS } from './scripts';
import type { RedisLeases } from './leases';

const MiB = 1024 * 1024;

export type { LiveNode, NodeGpu, NodeRecord } from '../cluster';

/** Anything with a GPU snapshot: a GpuMonitor, or a stub in tests. */
export interface SnapshotSource {
  snapshot(): GpuSnapshot;
}

export interface NodeRegistryOptions {
  redis: RedisTarget;
  /** @default 'default' */
  namespace?: string;
  /** @default os.hostname() */
  nodeId?: string;
  /** Where the GPUs come from (usually a started GpuMonitor). */
  monitor: SnapshotSource;
  /** The node disappears this long after its last heartbeat. @default 15000 */
  ttlMs?: number;
  /** @default ttlMs / 3 */
  heartbeatMs?: number;
  /** Resource name of a GPU. @default `${nodeId}/gpu${index}` */
  resourceName?: (nodeId: string, device: GpuDevice) => string;
  /** When given, each GPU's resource is created with capacity = total VRAM in MiB at start. */
  leases?: RedisLeases;
  /** Labels cluster-scope requests select by, e.g. { zone: 'eu-1' }. @default {} */
  labels?: Record<string, string>;
  /** Where callers reach this node (shown as lease.node.host). @default os.hostname() */
  address?: string;
}

const OPTION_KEYS = ['redis', 'namespace', 'nodeId', 'monitor', 'ttlMs', 'heartbeatMs', 'resourceName', 'leases', 'labels', 'address'] as const;

/**
 * Registers this node's GPUs and keeps the registration alive.
 *
 * @example
 * const monitor = await GpuMonitor.create();
 * const registry = await NodeRegistry.start({ redis: 'redis://10.0.0.5:6379', monitor });
 * // ... later
 * await registry.stop();
 */
export class NodeRegistry {
  readonly namespace: string;
  readonly nodeId: string;
  readonly ttlMs: number;
  readonly heartbeatMs: number;
  /** Heartbeats that failed (Redis away); the node reappears with the next one that succeeds. */
  heartbeatFailures = 0;
  private readonly conn: RedisConnection;
  private readonly monitor: SnapshotSource;
  private readonly resourceName: (nodeId: string, device: GpuDevice) => string;
  private readonly leases: RedisLeases | undefined;
  private readonly labels: Record<string, string>;
  private readonly address: string;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private stopped = false;

  static async start(options: NodeRegistryOptions): Promise<NodeRegistry> {
    const registry = new NodeRegistry(options);
    try {
      await registry.conn.waitReady(5000);
      await registry.heartbeat();
      if (registry.leases) {
        for (const gpu of registry.record().gpus) {
          if (gpu.totalMiB !== null) {
            await registry.leases.setResource(gpu.resource, { capacity: gpu.totalMiB, closed: gpu.error !== null });
          }
        }
      }
    } catch (err) {
      await registry.conn.close();
      throw err;
    }
    registry.timer = setInterval(() => {
      registry.heartbeat().catch(() => {
        registry.heartbeatFailures++;
      });
    }, registry.heartbeatMs);
    registry.timer.unref();
    return registry;
  }

  private constructor(options: NodeRegistryOptions) {
    const opts = optionsObject<NodeRegistryOptions>('options', options);
    knownKeys('options', opts, OPTION_KEYS);
    this.namespace = opts.namespace === undefined ? 'default' : checkNamespace('options.namespace', opts.namespace);
    this.nodeId = checkNodeId('options.nodeId', opts.nodeId === undefined ? os.hostname() : opts.nodeId);
    if (!opts.monitor || typeof (opts.monitor as SnapshotSource).snapshot !== 'function') {
      throw invalid('options.monitor', 'a GpuMonitor (anything with snapshot())', opts.monitor);
    }
    this.monitor = opts.monitor;
    this.ttlMs = opts.ttlMs === undefined ? 15_000 : integerInRange('options.ttlMs', opts.ttlMs, 100, 86_400_000);
    this.heartbeatMs =
      opts.heartbeatMs === undefined ? Math.max(10, Math.floor(this.ttlMs / 3)) : integerInRange('options.heartbeatMs', opts.heartbeatMs, 10, this.ttlMs);
    if (opts.resourceName !== undefined && typeof opts.resourceName !== 'function') {
      throw invalid('options.resourceName', 'a function', opts.resourceName);
    }
    this.resourceName = opts.resourceName ?? ((nodeId, d) => `${nodeId}/gpu${d.index}`);
    this.leases = opts.leases;
    this.labels = checkLabels('options.labels', opts.labels);
    this.address = opts.address === undefined ? os.hostname() : boundedString('options.address', opts.address, MAX_LABEL_LENGTH);
    this.conn = RedisConnection.create(checkTarget('options.redis', opts.redis), 2000);
    this.conn.client.on('error', () => undefined);
  }

  /** util.inspect(): the registry with its Redis target masked (never a password). */
  [inspect.custom](_depth: number, options: { stylize(s: string, style: string): string }): string {
    const fields = { namespace: this.namespace, nodeId: this.nodeId, target: this.conn.shownTarget, ttlMs: this.ttlMs, stopped: this.stopped };
    return `${options.stylize('NodeRegistry', 'special')} ${inspect(fields, { ...options, depth: 1 } as never)}`;
  }

  /** The record this node writes now (from the newest snapshot). */
  record(): NodeRecord {
    const snap = this.monitor.snapshot();
    return {
      nodeId: this.nodeId,
      host: this.address,
      labels: this.labels,
      pid: process.pid,
      gpus: snap.devices.map((d) => ({
        index: d.index,
        name: d.name,
        uuid: d.uuid,
        totalMiB: d.memory ? Math.floor(d.memory.totalBytes / MiB) : null,
        resource: this.resourceName(this.nodeId, d),
        error: d.error?.nvmlReturn ?? null,
        utilPct: d.utilization?.gpuPercent ?? null,
      })),
      nvmlAvailable: snap.available,
      nvmlReason: snap.unavailableReason,
      startedAt: this.startedAt,
    };
  }

  /** Writes the record and extends the TTL (one script). */
  async heartbeat(): Promise<void> {
    if (this.stopped) throw new GpuArbiterError('E_CLOSED', 'The node registry is stopped');
    await this.conn.run(SCRIPTS.nodeRegister, poolKeyList(this.namespace), [this.nodeId, this.ttlMs, JSON.stringify(this.record())]);
  }

  /** Live nodes of this registry's namespace. */
  list(): Promise<LiveNode[]> {
    return listNodes(this.conn, this.namespace);
  }

  /** Stops the heartbeat; with `unregister` (default) the node leaves at once instead of after its TTL. */
  async stop({ unregister = true }: { unregister?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (unregister) {
      await this.conn.run(SCRIPTS.nodeUnregister, poolKeyList(this.namespace), [this.nodeId]).catch(() => undefined);
    }
    await this.conn.close();
  }
}

/** Lists the live nodes of a namespace (prunes those whose heartbeat lapsed). */
export async function listNodes(conn: RedisConnection, namespace: string): Promise<LiveNode[]> {
  const k = namespaceKeys(namespace);
  const reply = (await conn.run(SCRIPTS.nodeList, [k.nodes, k.nodeInfo], [])) as [number, Array<[string, string, number]>];
  const nodes: LiveNode[] = [];
  for (const [nodeId, raw, expiresAt] of reply[1]) {
    // A malformed record still shows as a node with no GPUs.
    const rec = parseJson(raw) as Partial<NodeRecord>;
    nodes.push({
      nodeId,
      host: rec.host ?? 'unknown',
      labels: rec.labels ?? {},
      pid: rec.pid ?? 0,
      gpus: rec.gpus ?? [],
      nvmlAvailable: rec.nvmlAvailable ?? false,
      nvmlReason: rec.nvmlReason ?? null,
      startedAt: rec.startedAt ?? 0,
      expiresAt: Number(expiresAt),
    });
  }
  return nodes.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}
