// The cluster view behind `gpu-arbiter status --redis URL`: live nodes, their GPUs, and each
// GPU's lease use (capacity, declared by holders, waiting), read from Redis.
import { GpuArbiterError } from '../../errors';
import { RedisConnection, checkTarget, type RedisTarget } from './connection';
import { poolKeyList, resourceKeyList, resourceKeys } from './keys';
import { checkNamespace } from './limits';
import { listNodes } from './node-registry';
import type { ClusterGpu, ClusterJob, ClusterNodeView, ClusterView, PoolWaiterView, ResourceUse } from '../cluster';
import { parseJson, type UsageTuple, usageOf } from './replies';
import { namespaceResources } from './resources';
import { SCRIPTS } from './scripts';

export type { ClusterGpu, ClusterNodeView, ClusterView, ResourceUse } from '../cluster';

async function resourceUse(conn: RedisConnection, namespace: string, resource: string): Promise<{ use: ResourceUse | null; jobs: ClusterJob[]; now: number }> {
  const reply = (await conn.run(SCRIPTS.inspect, resourceKeyList(resourceKeys(namespace, resource)), [])) as unknown[];
  const u = usageOf(reply[0] as UsageTuple);
  const now = Number(reply[4]);
  if (u.capacity < 0) return { use: null, jobs: [], now };
  const jobs = (reply[1] as Array<[string, string, number]>).map(([, raw]) => {
    const rec = parseJson(raw) as { u?: number; h?: string };
    const h = parseJson(rec.h ?? '{}') as Partial<ClusterJob>;
    return { units: Number(rec.u ?? 0), task: h.task, label: h.label, host: h.host, pid: h.pid };
  });
  return {
    now,
    jobs,
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
        gpus.push({ ...g, use: r.use, jobs: r.jobs });
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
    const pool = (await conn.run(SCRIPTS.poolInspect, poolKeyList(namespace), [])) as [number, number, Array<[string, string]>];
    const queue = pool[2].map(([, raw], position): PoolWaiterView => {
      const w = parseJson(raw) as { u?: number; n?: number; p?: number; sel?: unknown; at?: number; h?: string };
      const labels = w.sel !== null && typeof w.sel === 'object' && !Array.isArray(w.sel) ? (w.sel as Record<string, string>) : {};
      return {
        position,
        units: Number(w.u ?? 0),
        gpus: Number(w.n ?? 1),
        priority: Number(w.p ?? 0),
        labels,
        enqueuedAt: Number(w.at ?? 0),
        holder: parseJson(w.h ?? '{}') as PoolWaiterView['holder'],
      };
    });
    return { namespace, now, nodes: views, otherResources, queue, holdUntil: pool[1] > pool[0] ? pool[1] : null };
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
      for (const j of g.jobs ?? [])
        out.push(`    holder ${j.task ?? '?'}${j.label ? ` [${j.label}]` : ''} ${j.units} MiB  ${j.host ?? '?'} pid ${j.pid ?? '?'}`);
    }
  }
  if (view.holdUntil !== null) out.push(`grants wait ${((view.holdUntil - view.now) / 1000).toFixed(1)} s more: Redis lost the pool's data (epoch hold)`);
  out.push(`cluster queue: ${view.queue.length} waiting`);
  for (const w of view.queue) {
    const sel = Object.keys(w.labels).length === 0 ? '' : ` labels ${JSON.stringify(w.labels)}`;
    const label = w.holder.label ? ` [${w.holder.label}]` : '';
    out.push(
      `  #${w.position} ${w.holder.task ?? '?'}${label} ${w.gpus} x ${w.units} MiB priority ${w.priority}${sel}  waiting ${((view.now - w.enqueuedAt) / 1000).toFixed(1)} s  ${w.holder.host ?? '?'}`,
    );
  }
  if (view.otherResources.length > 0) {
    out.push('other resources:');
    for (const r of view.otherResources) out.push(`  ${r.resource}: ${useText(r.use)}`);
  }
  return out.join('\n');
}
