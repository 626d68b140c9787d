// Holder labels: a HostBackend (and so a GpuArbiter with backend 'host') writes its HolderInfo
// into the ledger's per-holder label as "<pid> <leaseId> <task>", followed by " // <label>" when
// the job has a label, so every process reading the ledger (inspect(), `gpu-arbiter status`,
// another arbiter's snapshot()) can tell who holds what, and for which job.
import type { HolderInfo } from '../contract';

/** What the ledger keeps of a label: printable ASCII, at most 127 characters (kLabelMax - 1). */
export const MAX_LABEL = 127;
const PRINTABLE = /^[\x20-\x7e]*$/;
const LEASE_ID = /^[\x21-\x7e]*$/;
const LABEL_PARSE = /^(\d{1,10}) (\S+) ([\s\S]*)$/;
/** Between the task and the job's label; written nowhere else in a label (see holderLabel). */
const JOB = ' // ';

const clean = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');

/**
 * The ledger label of a holder or waiter: "<pid> <leaseId> <task>[ // <label>]", cut to what
 * the ledger keeps (the job's label is cut first). A task's own " // " is written " / ", so the
 * first one always starts the job's label.
 */
export function holderLabel(h: HolderInfo): string {
  const simple = h.label === undefined && LEASE_ID.test(h.leaseId) && PRINTABLE.test(h.task) && !h.task.includes(JOB);
  const head = simple
    ? `${h.pid} ${h.leaseId} ${h.task}`
    : `${h.pid} ${clean(String(h.leaseId)).replace(/ /g, '_')} ${clean(String(h.task)).replaceAll(JOB, ' / ')}`;
  if (head.length >= MAX_LABEL || h.label === undefined) return head.slice(0, MAX_LABEL);
  return `${head}${JOB}${clean(h.label)}`.slice(0, MAX_LABEL);
}

/**
 * The HolderInfo a label carries; a label not written by {@link holderLabel} gives
 * { leaseId: '', task: label, pid } (a label it wrote always has a non-empty leaseId).
 */
export function parseHolderLabel(label: string, pid: number): HolderInfo {
  const m = LABEL_PARSE.exec(label);
  if (m === null) return { leaseId: '', task: label, pid };
  const rest = m[3]!;
  const at = rest.indexOf(JOB);
  if (at < 0) return { pid: Number(m[1]), leaseId: m[2]!, task: rest };
  return { pid: Number(m[1]), leaseId: m[2]!, task: rest.slice(0, at), label: rest.slice(at + JOB.length) };
}
