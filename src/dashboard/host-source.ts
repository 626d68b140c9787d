// Frames of this host for `gpu-arbiter dashboard`: the GPUs as NVML sees them, and every host
// ledger (/dev/shm/gpu-arbiter-*, read as `gpu-arbiter status` reads them: src/backends/host/status.ts,
// registering nothing). An arbiter with backend 'host' names a GPU `gpu:<uuid>` in its ledger;
// a GPU in no ledger is shown from NVML alone (all its use is outside use).
import { parseHolderLabel } from '../backends/host/labels';
import { readHostLedgers } from '../backends/host/status';
import type { HostLedgerStatus } from '../backends/host/view';
import type { GpuDevice } from '../gpu/types';
import type { GpuView } from '../gpu/view';
import { PollTracker } from './polled';
import type { DashboardAlert, DashboardSource, GpuPanel } from './types';
import { holderLabel, vramSegments } from './vram';

const MiB = 1024 * 1024;

export interface HostSourceOptions {
  monitor: GpuView;
  /** Only these ledger namespaces (default: every one on the host). */
  namespaces?: string[];
  title?: string;
}

function ledgerPanel(s: HostLedgerStatus, r: HostLedgerStatus['resources'][number], d: GpuDevice | null, tracker: PollTracker, now: number): GpuPanel {
  const holders = s.holders
    .filter((h) => h.resource === r.name)
    .map((h) => {
      const info = parseHolderLabel(h.label, h.pid);
      return { task: info.task || '(no label)', label: info.label ?? null, pid: info.pid, vramMiB: h.units, heldMs: now - h.since.getTime() };
    });
  const queue = s.waiters
    .filter((w) => w.resource === r.name)
    .map((w) => {
      const info = parseHolderLabel(w.label, w.pid);
      const row = { position: w.position, task: info.task || '(no label)', label: info.label ?? null, pid: info.pid, priority: w.priority };
      return { ...row, vramMiB: w.units, waitedMs: now - w.since.getTime() };
    });
  const totalMiB = d?.memory ? Math.floor(d.memory.totalBytes / MiB) : r.capacity;
  const reason = d?.error?.nvmlReturn ?? (r.closed ? 'CLOSED' : null);
  return {
    id: `${s.namespace}/${r.name}`,
    group: `ns ${s.namespace}`,
    index: d?.index ?? 0,
    name: d?.name ?? r.name,
    usable: reason === null,
    reason,
    totalMiB,
    usedMiB: r.used + r.external,
    segments: vramSegments({
      totalMiB,
      capacityMiB: r.capacity,
      outsideMiB: r.external,
      driverReservedMiB: d?.memory?.reservedBytes == null ? 0 : Math.round(d.memory.reservedBytes / MiB),
      holders: holders.map((h) => ({ mib: h.vramMiB, label: holderLabel(h) })),
    }),
    utilPercent: d?.utilization?.gpuPercent ?? null,
    temperatureC: d?.temperatureC ?? null,
    powerW: d?.powerW ?? null,
    powerLimitW: d?.powerLimitW ?? null,
    holders,
    queue: tracker.etas(r.capacity - r.external, holders, queue),
  };
}

function nvmlPanel(d: GpuDevice): GpuPanel {
  const totalMiB = d.memory ? Math.floor(d.memory.totalBytes / MiB) : null;
  const usedMiB = d.memory ? Math.ceil(d.memory.usedBytes / MiB) : null;
  const reserved = d.memory?.reservedBytes == null ? 0 : Math.round(d.memory.reservedBytes / MiB);
  return {
    id: `nvml:${d.index}`,
    group: null,
    index: d.index,
    name: d.name,
    usable: d.error === null,
    reason: d.error?.nvmlReturn ?? null,
    totalMiB,
    usedMiB,
    segments: totalMiB === null ? [] : vramSegments({ totalMiB, capacityMiB: null, outsideMiB: usedMiB ?? 0, driverReservedMiB: reserved, holders: [] }),
    utilPercent: d.utilization?.gpuPercent ?? null,
    temperatureC: d.temperatureC,
    powerW: d.powerW,
    powerLimitW: d.powerLimitW,
    holders: [],
    queue: [],
  };
}

export function hostSource(o: HostSourceOptions): DashboardSource {
  const tracker = new PollTracker();
  const grantsSeen = new Map<string, number>();
  let newGrants = 0;
  let violations: number | null = null;
  let alert: (a: DashboardAlert) => void = () => undefined;
  const lostGpus = new Set<number>();
  return {
    async frame() {
      const sample = o.monitor.snapshot();
      const ledgers = await readHostLedgers(o.namespaces);
      const now = Date.now();
      const notes: string[] = [];
      if (!sample.available) notes.push(`NVML not available: ${sample.unavailableReason ?? 'unknown reason'}`);
      const gpus: GpuPanel[] = [];
      const shown = new Set<string>();
      const readable: HostLedgerStatus[] = [];
      for (const l of ledgers) {
        if ('error' in l) notes.push(`host ledger ${l.namespace}: unreadable (${l.error.code}: ${l.error.message})`);
        else readable.push(l.status);
      }
      for (const d of sample.devices) {
        if (d.error !== null && !lostGpus.has(d.index))
          alert({ time: new Date(now).toISOString(), kind: 'gpu-lost', message: `GPU ${d.index}: ${d.error.nvmlReturn}` });
        if (d.error !== null) lostGpus.add(d.index);
        else lostGpus.delete(d.index);
        let inLedger = false;
        for (const s of readable) {
          const r = s.resources.find((x) => d.uuid !== null && x.name === `gpu:${d.uuid}`);
          if (r === undefined) continue;
          inLedger = true;
          shown.add(`${s.namespace}/${r.name}`);
          gpus.push(ledgerPanel(s, r, d, tracker, now));
        }
        if (!inLedger) gpus.push(nvmlPanel(d));
      }
      // GPUs a ledger has that NVML does not show (declared devices, NVML unavailable).
      for (const s of readable) {
        for (const r of s.resources) if (r.name.startsWith('gpu:') && !shown.has(`${s.namespace}/${r.name}`)) gpus.push(ledgerPanel(s, r, null, tracker, now));
      }
      const keyOf = (label: string, pid: number, thread: number, resource: string) => `${resource} ${pid}/${thread} ${label}`;
      tracker.observe(
        readable.flatMap((s) =>
          s.holders.map((h) => ({
            key: keyOf(h.label, h.pid, h.thread, h.resource),
            task: parseHolderLabel(h.label, h.pid).task,
            grantedAt: h.since.getTime(),
          })),
        ),
        readable.flatMap((s) => s.waiters.map((w) => ({ key: keyOf(w.label, w.pid, w.thread, w.resource), enqueuedAt: w.since.getTime() }))),
        now,
      );
      // The ledger counts its grants: exact grants/s even for holds shorter than a poll.
      for (const s of readable) {
        const before = grantsSeen.get(s.namespace);
        if (before !== undefined && s.grants >= before) newGrants += s.grants - before;
        grantsSeen.set(s.namespace, s.grants);
      }
      const v = readable.reduce((sum, s) => sum + s.ownershipViolations, 0);
      if (violations !== null && v > violations) {
        alert({ time: new Date(now).toISOString(), kind: 'ownership-violation', message: `${v - violations} release(s) refused: wrong or stale token` });
      }
      violations = v;
      return { t: now, title: o.title ?? `gpu-arbiter · this host's GPUs and host ledgers`, source: 'host', gpus, health: null, notes };
    },
    takeGrants() {
      const taken = tracker.take(newGrants);
      newGrants = 0;
      return taken;
    },
    subscribe(_changed, onAlert) {
      alert = onAlert;
      return () => {
        alert = () => undefined;
      };
    },
  };
}
