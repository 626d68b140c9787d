// The cluster view behind `gpu-arbiter status --redis URL`: live nodes, their GPUs, and each
// GPU's lease use (capacity, declared by holders, waiting), read from Redis.
import { GpuArbiterError } from '../../errors';
import { RedisConnection, checkTarget, type RedisTarget } from './connection';
import { resourceKeyList, resourceKeys } from './keys';
import { checkNamespace } from './limits';
import { listNodes } from './node-registry';
import type { ClusterGpu, ClusterNodeView, ClusterView, ResourceUse } from '../cluster';
import { type UsageTuple, usageOf } from './replies';
import { namespaceResources } from './resources';
import { SCRIPTS } from './scripts';

export type { ClusterGpu, ClusterNodeView, ClusterView, ResourceUse } from '../cluster';

async function resourceUse(conn: RedisConnection, namespace: string, resource: string): Promise<{ use: ResourceUse | null; now: number }> {
  const reply = (await conn.run(SCRIPTS.inspect, resourceKeyList(resourceKeys(namespace, resource)), [])) as unknown[];
  const u = usageOf(reply[0] as UsageTuple);
  const now = Number(reply[4]);
  if (u.capacity < 0) return { use: null, now };
  return {
    now,
    use: {
      capacity: u.capacity,
      external: u.external,
      declared: u.declared,
      closed: u.closed,
      holders: (reply[1] as unknown[]).length,
      waiting: u.waiting,
    },
  };
}

/** Reads the cluster view of one namespace. */
export async function collectCluster(redis: string | RedisTarget, options: { namespace?: string } = {}): Promise<ClusterView> {
  const namespace = options.namespace === undefined ? 'default' : checkNamespace('namespace', options.namespace);
  const conn = RedisConnection.create(checkTarget('redis', redis), 3000);
  conn.client.on('error', () => undefined);
  try {
    await conn.waitReady(5000, { failOnError: true });
    const nodes = await listNodes(conn, namespace);
    let now = Date.now();
    const seen = new Set<string>();
    const views: ClusterNodeView[] = [];
    for (const n of nodes) {
      const gpus: ClusterGpu[] = [];
      for (const g of n.gpus) {
        const r = await resourceUse(conn, namespace, g.resource);
        now = r.now;
        seen.add(g.resource);
        gpus.push({ ...g, use: r.use });
      }
      views.push({ ...n, gpus, expiresInMs: 0 });
    }
    for (const v of views) v.expiresInMs = Math.max(0, v.expiresAt - now);
    const names = await namespaceResources(conn, namespace);
    const otherResources: ClusterView['otherResources'] = [];
    for (const resource of names.sort()) {
      if (seen.has(resource)) continue;
      const r = await resourceUse(conn, namespace, resource);
      if (r.use) otherResources.push({ resource, use: r.use });
    }
    return { namespace, now, nodes: views, otherResources };
  } catch (err) {
    if (err instanceof GpuArbiterError) throw err;
    throw new GpuArbiterError('E_BACKEND_UNAVAILABLE', `Could not read the cluster from Redis: ${(err as Error).message}`);
  } finally {
    await conn.close();
  }
}

function useText(u: ResourceUse | null): string {
  if (!u) return 'not configured';
  const free = u.capacity - u.external - u.declared;
  return `${u.declared}/${u.capacity} declared, ${u.external} external, ${free} free, ${u.holders} holder(s), ${u.waiting} waiting${
    u.closed ? ', CLOSED' : ''
  }`;
}

/** Human-readable cluster view. */
export function formatCluster(view: ClusterView): string {
  const out = [`namespace ${view.namespace}: ${view.nodes.length} live node(s)`];
  for (const n of view.nodes) {
    out.push(`node ${n.nodeId}  host ${n.host} pid ${n.pid}  heartbeat expires in ${(n.expiresInMs / 1000).toFixed(1)} s`);
    if (!n.nvmlAvailable) out.push(`  NVML not available: ${n.nvmlReason ?? 'unknown reason'}`);
    for (const g of n.gpus) {
      const total = g.totalMiB === null ? 'unknown VRAM' : `${g.totalMiB} MiB`;
      out.push(`  GPU ${g.index}  ${g.name ?? 'unknown name'}  ${total}  resource ${g.resource}${g.error ? `  ERROR ${g.error}` : ''}`);
      out.push(`    use: ${useText(g.use)}`);
    }
  }
  if (view.otherResources.length > 0) {
    out.push('other resources:');
    for (const r of view.otherResources) out.push(`  ${r.resource}: ${useText(r.use)}`);
  }
  return out.join('\n');
}
