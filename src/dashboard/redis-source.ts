// Frames of a Redis namespace for `gpu-arbiter dashboard --redis URL`: the live nodes and their
// GPUs (src/backends/redis/cluster-view.ts, as `gpu-arbiter status --redis` reads them) and each
// GPU's holders and queue (RedisLeases.inspect(), which registers nothing and takes no lease).
// Redis keeps no utilisation, temperature or power of a node's GPUs: those stay unknown here.
// The URL is shown masked (src/backends/redis/redact.ts) and its password is cut out of every
// message the page could see.
import { collectCluster, type ClusterView } from '../backends/redis/cluster-view';
import { RedisLeases } from '../backends/redis/leases';
import { maskRedisUrl } from '../backends/redis/redact';
import type { InspectResource } from '../backends/redis/types';
import { PollTracker } from './polled';
import type { DashboardAlert, DashboardFrame, DashboardSource, GpuPanel } from './types';
import { holderLabel, vramSegments } from './vram';

export interface RedisSourceOptions {
  redis: string;
  namespace: string;
  title?: string;
}

/** Cuts the URL's password out of a text (the masked forms are already safe). */
function scrubber(url: string): (s: string) => string {
  let secret: string | null = null;
  try {
    const u = new URL(url);
    secret = u.password !== '' ? decodeURIComponent(u.password) : u.username !== '' ? decodeURIComponent(u.username) : null;
  } catch {
    secret = null;
  }
  return (s) => (secret === null || secret.length < 3 ? s : s.split(secret).join('***'));
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function panels(view: ClusterView, inspected: Map<string, InspectResource>, tracker: PollTracker): GpuPanel[] {
  const out: GpuPanel[] = [];
  for (const n of view.nodes) {
    for (const g of n.gpus) {
      const r = inspected.get(g.resource);
      const use = g.use;
      const holders = (r?.holders ?? []).map((h) => ({
        task: str(h.holder?.task) ?? '(unknown)',
        label: str(h.holder?.label),
        pid: Number(h.holder?.pid ?? 0),
        vramMiB: h.units,
        heldMs: Math.max(0, view.now - h.grantedAt),
      }));
      const queue = (r?.waiters ?? []).map((w) => ({
        position: w.position,
        task: str(w.holder?.task) ?? '(unknown)',
        label: str(w.holder?.label),
        pid: Number(w.holder?.pid ?? 0),
        priority: w.priority,
        vramMiB: w.units,
        waitedMs: Math.max(0, view.now - w.enqueuedAt),
      }));
      const totalMiB = g.totalMiB ?? use?.capacity ?? null;
      const reason = g.error ?? (use === null ? 'not configured in Redis' : use.closed ? 'CLOSED' : null);
      out.push({
        id: `${n.nodeId}/${g.resource}`,
        group: `node ${n.nodeId} (${n.host})`,
        index: g.index,
        name: g.name,
        usable: reason === null,
        reason,
        totalMiB,
        usedMiB: use === null ? null : use.declared + use.external,
        segments:
          totalMiB === null || use === null
            ? []
            : vramSegments({
                totalMiB,
                capacityMiB: use.capacity,
                outsideMiB: use.external,
                driverReservedMiB: 0,
                holders: holders.map((h) => ({ mib: h.vramMiB, label: holderLabel(h) })),
              }),
        utilPercent: null,
        temperatureC: null,
        powerW: null,
        powerLimitW: null,
        holders,
        queue: use === null ? [] : tracker.etas(use.capacity - use.external, holders, queue),
      });
    }
  }
  return out;
}

export function redisSource(o: RedisSourceOptions): DashboardSource {
  const scrub = scrubber(o.redis);
  const tracker = new PollTracker();
  const title = o.title ?? `gpu-arbiter · Redis ${maskRedisUrl(o.redis)} · namespace ${o.namespace}`;
  let leases: Promise<RedisLeases> | null = null;
  let nodes: Set<string> | null = null;
  let alert: (a: DashboardAlert) => void = () => undefined;
  const read = async (): Promise<DashboardFrame> => {
    const view = await collectCluster(o.redis, { namespace: o.namespace });
    if (leases === null) {
      // Opened once and kept (a subscriber connection too); opened again after a failed open.
      const opening = RedisLeases.open({ redis: o.redis, namespace: o.namespace });
      leases = opening;
      opening.catch(() => {
        if (leases === opening) leases = null;
      });
    }
    const resources = view.nodes.flatMap((n) => n.gpus.map((g) => g.resource));
    const inspected = new Map((await (await leases).inspect({ resources })).resources.map((r) => [r.resource, r]));
    const all = [...inspected.values()];
    const key = (h: { leaseId?: unknown } | null, fallback: string): string => str(h?.leaseId) ?? fallback;
    tracker.observe(
      all.flatMap((r) => r.holders.map((h) => ({ key: key(h.holder, h.token), task: str(h.holder?.task) ?? '', grantedAt: h.grantedAt }))),
      all.flatMap((r) => r.waiters.map((w, i) => ({ key: key(w.holder, `${r.resource}#${i}`), enqueuedAt: w.enqueuedAt }))),
      view.now,
    );
    const seen = new Set(view.nodes.map((n) => n.nodeId));
    const time = new Date().toISOString();
    for (const n of nodes ?? []) if (!seen.has(n)) alert({ time, kind: 'node-gone', message: `node ${n} stopped heartbeating` });
    for (const n of seen) if (nodes !== null && !nodes.has(n)) alert({ time, kind: 'node-joined', message: `node ${n} joined` });
    nodes = seen;
    const notes = view.nodes.filter((n) => !n.nvmlAvailable).map((n) => `node ${n.nodeId}: NVML not available (${n.nvmlReason ?? 'unknown reason'})`);
    if (view.nodes.length === 0) notes.push(`no live node in namespace ${o.namespace}`);
    return { t: Date.now(), title, source: 'redis', gpus: panels(view, inspected, tracker), health: null, notes: notes.map(scrub) };
  };
  return {
    async frame() {
      try {
        return await read();
      } catch (err) {
        // The hub keeps the last GPUs on screen with this as the note; never the password.
        throw new Error(scrub((err as Error)?.message ?? String(err)));
      }
    },
    takeGrants: () => tracker.take(),
    subscribe(_changed, onAlert) {
      alert = onAlert;
      return () => {
        alert = () => undefined;
      };
    },
    async close() {
      const l = await leases?.catch(() => null);
      await l?.close();
    },
  };
}
