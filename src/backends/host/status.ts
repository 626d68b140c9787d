// Host ledger status for `gpu-arbiter status`: every namespace on this host, read without
// creating anything, and a plain-text rendering.
import { GpuArbiterError } from '../../errors';
import { parseHolderLabel } from './labels';
import { inspectHostNamespace, listHostNamespaces } from './namespaces';
import type { HostLedgerStatus } from './view';

// A GpuArbiter with backend 'host' labels its holders and waiters "<pid> <leaseId> <task>" and
// the job's label (./labels.ts); shown as "task ASR, lease L7, job=42" (plus the pid that will
// use the VRAM when it is not the holding process). Any other label is shown as it is.
function describeLabel(label: string, pid: number): string {
  if (!label) return '';
  const h = parseHolderLabel(label, pid);
  if (h.leaseId === '') return `, ${label}`;
  return `, task ${h.task}, lease ${h.leaseId}${h.pid === pid ? '' : `, VRAM used by pid ${h.pid}`}${h.label === undefined ? '' : `, ${h.label}`}`;
}

/** One namespace's status, or why it could not be read (e.g. an incompatible layout). */
export type HostNamespaceStatus = { namespace: string; status: HostLedgerStatus } | { namespace: string; error: GpuArbiterError };

/**
 * Reads every host ledger (`/dev/shm/gpu-arbiter-*`), or only `namespaces`. Leaves no trace:
 * creates nothing and does not register this process in any ledger.
 */
export async function readHostLedgers(namespaces?: string[]): Promise<HostNamespaceStatus[]> {
  const out: HostNamespaceStatus[] = [];
  for (const namespace of namespaces ?? listHostNamespaces()) {
    try {
      out.push({ namespace, status: inspectHostNamespace(namespace) });
    } catch (err) {
      if (err instanceof GpuArbiterError) out.push({ namespace, error: err });
      else throw err;
    }
  }
  return out;
}

function age(since: Date, now: number): string {
  const ms = Math.max(0, now - since.getTime());
  return ms < 10_000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Renders statuses as the text `gpu-arbiter status` prints for the host ledger. */
export function formatHostLedgers(list: HostNamespaceStatus[], now = Date.now()): string {
  if (list.length === 0) return 'host ledger: no namespaces on this host\n';
  const lines: string[] = [];
  for (const entry of list) {
    if ('error' in entry) {
      lines.push(`host ledger ${entry.namespace}: unreadable (${entry.error.code}: ${entry.error.message})`);
      continue;
    }
    const s = entry.status;
    lines.push(
      `host ledger ${s.namespace}: ${s.processes.length} process(es), ${s.grants} grants, ` +
        `${s.ownershipViolations} ownership violations, ${s.reclaimedProcesses} reclaimed, ${s.repairs} repairs`,
    );
    for (const r of s.resources) {
      const ext = r.external > 0 ? ` (+${r.external} external)` : '';
      lines.push(`  ${r.name}: ${r.used}/${r.capacity} used${ext}, ${r.waiting} waiting, fencing token ${r.lastFencingToken}${r.closed ? ', CLOSED' : ''}`);
      for (const h of s.holders.filter((x) => x.resource === r.name)) {
        lines.push(
          `    holder pid ${h.pid} thread ${h.thread}: ${h.units} unit(s), priority ${h.priority}, for ${age(h.since, now)}, fence ${h.fencingToken}${describeLabel(h.label, h.pid)}`,
        );
      }
      for (const w of s.waiters.filter((x) => x.resource === r.name)) {
        lines.push(
          `    waiter #${w.position} pid ${w.pid} thread ${w.thread}: ${w.units} unit(s), priority ${w.priority}, waiting ${age(w.since, now)}${describeLabel(w.label, w.pid)}`,
        );
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A JSON-safe copy (dates as ISO strings, errors as { code, message }) for `status --json`. */
export function hostLedgersToJson(list: HostNamespaceStatus[]): unknown {
  return JSON.parse(
    JSON.stringify(list, (_key, value: unknown) => {
      if (value instanceof GpuArbiterError) return { code: value.code, message: value.message };
      return value;
    }),
  );
}
