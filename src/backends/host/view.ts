// The plain view of a host ledger (HostLedger.inspect(), inspectHostNamespace()): its types and
// the conversion from the addon's raw view (src/native/addon.ts).
import type { RawHostResourceView, RawHostView } from '../../native/addon';

export interface HostHolderInfo {
  resource: string;
  /** The acquire's `label` ('' when none). */
  label: string;
  pid: number;
  /** worker_threads threadId (0 = main thread). */
  thread: number;
  units: number;
  priority: number;
  /** When the hold was granted (wall clock). */
  since: Date;
  fencingToken: number;
}

export interface HostWaiterInfo {
  resource: string;
  label: string;
  pid: number;
  thread: number;
  units: number;
  priority: number;
  since: Date;
  /** Position in the host-wide queue of its resource (0 = next). */
  position: number;
}

export interface HostLedgerStatus {
  namespace: string;
  resources: Array<{
    name: string;
    capacity: number;
    /** Units granted to holders. */
    used: number;
    /** Units used outside the ledger (see HostResourceSpec.external). */
    external: number;
    closed: boolean;
    waiting: number;
    lastFencingToken: number;
  }>;
  holders: HostHolderInfo[];
  waiters: HostWaiterInfo[];
  /** Processes registered on the ledger (pid and start time in clock ticks since boot). */
  processes: Array<{ pid: number; startTime: number }>;
  /** Host-wide count of refused releases (wrong or stale token). */
  ownershipViolations: number;
  /** Times a process died inside the ledger's lock and the ledger was repaired. */
  repairs: number;
  /** Dead processes whose holds and waiters were reclaimed. */
  reclaimedProcesses: number;
  /** Total grants since the ledger was created. */
  grants: number;
}

/** @internal The part of a status about resources, holders and waiters (of one resource, or all). */
export type HostResourcesStatus = Pick<HostLedgerStatus, 'resources' | 'holders' | 'waiters'>;

/** @internal Resources, holders and waiters (in queue order, with positions) of a raw view. */
export function resourcesFromRaw(v: RawHostResourceView): HostResourcesStatus {
  const waiters = [...v.waiters].filter((w) => !w.granted).sort((a, b) => b.priority - a.priority || a.seq - b.seq);
  const positions = new Map<string, number>();
  return {
    resources: v.resources.map((r) => ({
      name: r.name,
      capacity: r.capacity,
      used: r.used,
      external: r.external,
      closed: r.closed,
      waiting: r.waiting,
      lastFencingToken: r.fence,
    })),
    holders: v.holders.map((h) => ({
      resource: h.resource,
      label: h.label,
      pid: h.pid,
      thread: h.thread,
      units: h.units,
      priority: h.priority,
      since: new Date(h.sinceMs),
      fencingToken: h.fence,
    })),
    waiters: waiters.map((w) => {
      const position = positions.get(w.resource) ?? 0;
      positions.set(w.resource, position + 1);
      return { resource: w.resource, label: w.label, pid: w.pid, thread: w.thread, units: w.units, priority: w.priority, since: new Date(w.sinceMs), position };
    }),
  };
}

/** @internal The status of a whole raw view. */
export function statusFromRaw(namespace: string, v: RawHostView): HostLedgerStatus {
  return {
    namespace,
    ...resourcesFromRaw(v),
    processes: v.processes,
    ownershipViolations: v.ownershipViolations,
    repairs: v.repairs,
    reclaimedProcesses: v.reclaimedProcesses,
    grants: v.grants,
  };
}
