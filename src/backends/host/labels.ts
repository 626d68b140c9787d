// Holder labels: a HostBackend (and so a GpuArbiter with backend 'host') writes its HolderInfo
// into the ledger's per-holder label as "<pid> <leaseId> <task>", so every process reading the
// ledger (inspect(), `gpu-arbiter status`) can tell who holds what.
import type { HolderInfo } from '../contract';

/** What the ledger keeps of a label: printable ASCII, at most 47 characters. */
const MAX_LABEL = 47;
const PRINTABLE = /^[\x20-\x7e]*$/;
const LEASE_ID = /^[\x21-\x7e]*$/;
const LABEL_PARSE = /^(\d{1,10}) (\S+) ([\s\S]*)$/;

/** The ledger label of a holder or waiter: "<pid> <leaseId> <task>", cut to what the ledger keeps. */
export function holderLabel(h: HolderInfo): string {
  const label = `${h.pid} ${h.leaseId} ${h.task}`;
  if (label.length <= MAX_LABEL && LEASE_ID.test(h.leaseId) && PRINTABLE.test(h.task)) return label;
  const clean = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');
  return `${h.pid} ${clean(String(h.leaseId)).replace(/ /g, '_')} ${clean(String(h.task))}`.slice(0, MAX_LABEL);
}

/**
 * The HolderInfo a label carries; a label not written by {@link holderLabel} gives
 * { leaseId: '', task: label, pid } (a label it wrote always has a non-empty leaseId).
 */
export function parseHolderLabel(label: string, pid: number): HolderInfo {
  const m = LABEL_PARSE.exec(label);
  if (m === null) return { leaseId: '', task: label, pid };
  return { pid: Number(m[1]), leaseId: m[2]!, task: m[3]! };
}
