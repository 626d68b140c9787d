// Task policies: what each kind of GPU work may ask for and what happens when the GPU is busy.
// Parsed once at create()/configure() so the acquire path only reads plain resolved objects.
import { integerInRange, invalid, knownKeys, nonEmptyString, optionsObject, booleanValue, MAX_TIMER_MS } from '../util/validate';

/** What a task does when its GPU is busy (see docs/design.md "Busy policies"). */
export const BusyPolicies = ['WAIT', 'SKIP', 'FALLBACK_CPU', 'REJECT'] as const;
export type BusyPolicy = (typeof BusyPolicies)[number];

/** Highest priority a task may have; priorities are integers from 0 (lowest) to this. */
export const MAX_PRIORITY = 1000;

/** A task policy as the user writes it. */
export interface TaskPolicyInput {
  /** Integer 0-1000; higher is served first. */
  priority: number;
  /**
   * VRAM the task declares, in MiB (integer >= 1): admission reserves exactly this. Or 'auto':
   * admission uses a high percentile of the task's measured peaks (NVML per-process memory),
   * starting from `vramDefaultMiB`, and never less than an OOM showed it needs.
   */
  vramMiB: number | 'auto';
  /** With vramMiB 'auto': the starting estimate, in MiB. */
  vramDefaultMiB?: number;
  /**
   * How long to wait for the GPU. WAIT: then E_TIMEOUT. SKIP/FALLBACK_CPU: then skip or fall back.
   * @default WAIT: no limit; SKIP and FALLBACK_CPU: 0 (try once)
   */
  maxWaitMs?: number;
  /** @default 'WAIT' */
  busyPolicy?: BusyPolicy;
  /** Arms the watchdog: a lease held longer emits `watchdog`. @default no watchdog */
  holdMaxMs?: number;
  /** With holdMaxMs: revoke (abort `lease.lost`) a lease held past holdMaxMs + revokeGraceMs. @default false */
  revokeOnHoldMax?: boolean;
  /** Grace between the watchdog and the revoke. @default 5000 */
  revokeGraceMs?: number;
  /** Most waiters of this task at once; one more gets E_QUEUE_FULL (or skip/fallback). @default no limit */
  queueLimit?: number;
}

/** A validated policy with every default filled in. */
export interface TaskPolicy {
  readonly task: string;
  readonly priority: number;
  /** Declared VRAM; with `autoVram`, the starting estimate (vramDefaultMiB). */
  readonly vramMiB: number;
  /** vramMiB was 'auto': admit on the learned estimate. */
  readonly autoVram: boolean;
  /** null: wait without limit. */
  readonly maxWaitMs: number | null;
  readonly busyPolicy: BusyPolicy;
  readonly holdMaxMs: number | null;
  readonly revokeOnHoldMax: boolean;
  readonly revokeGraceMs: number;
  readonly queueLimit: number | null;
}

const POLICY_KEYS = [
  'priority',
  'vramMiB',
  'vramDefaultMiB',
  'maxWaitMs',
  'busyPolicy',
  'holdMaxMs',
  'revokeOnHoldMax',
  'revokeGraceMs',
  'queueLimit',
] as const;

// Timers past 2^31-1 ms fire at once in Node; refuse them here rather than misbehave later.
const MAX_MS = MAX_TIMER_MS;
/** The most VRAM a task or a request may declare, in MiB. */
export const MAX_MIB = 2 ** 31 - 1;

/** Validates one task's policy; every message names the field, e.g. `policies.ASR.priority`. */
export function parseTaskPolicy(task: string, value: unknown, field = `policies.${task}`): TaskPolicy {
  nonEmptyString('task name', task);
  if (value === undefined) throw invalid(field, 'an object', value);
  const p = optionsObject<TaskPolicyInput>(field, value);
  knownKeys(field, p, POLICY_KEYS);
  const priority = integerInRange(`${field}.priority`, p.priority, 0, MAX_PRIORITY);
  const autoVram = p.vramMiB === 'auto';
  let vramMiB: number;
  if (autoVram) {
    if (p.vramDefaultMiB === undefined) throw invalid(`${field}.vramDefaultMiB`, "an integer from 1 to 2147483647 (vramMiB 'auto' starts from it)", undefined);
    vramMiB = integerInRange(`${field}.vramDefaultMiB`, p.vramDefaultMiB, 1, MAX_MIB);
  } else {
    if (typeof p.vramMiB !== 'number') throw invalid(`${field}.vramMiB`, "an integer from 1 to 2147483647 or 'auto'", p.vramMiB);
    vramMiB = integerInRange(`${field}.vramMiB`, p.vramMiB, 1, MAX_MIB);
    if (p.vramDefaultMiB !== undefined) throw invalid(`${field}.vramDefaultMiB`, "nothing unless vramMiB is 'auto'", p.vramDefaultMiB);
  }
  const busyPolicy = p.busyPolicy ?? 'WAIT';
  if (!BusyPolicies.includes(busyPolicy)) throw invalid(`${field}.busyPolicy`, `one of ${BusyPolicies.join(', ')}`, busyPolicy);
  const maxWaitMs = p.maxWaitMs === undefined ? (busyPolicy === 'WAIT' ? null : 0) : integerInRange(`${field}.maxWaitMs`, p.maxWaitMs, 0, MAX_MS);
  const holdMaxMs = p.holdMaxMs === undefined ? null : integerInRange(`${field}.holdMaxMs`, p.holdMaxMs, 1, MAX_MS);
  const revokeOnHoldMax = p.revokeOnHoldMax === undefined ? false : booleanValue(`${field}.revokeOnHoldMax`, p.revokeOnHoldMax);
  if (revokeOnHoldMax && holdMaxMs === null) {
    throw invalid(`${field}.holdMaxMs`, 'an integer from 1 to 2147483647 (revokeOnHoldMax needs it)', undefined);
  }
  const revokeGraceMs = p.revokeGraceMs === undefined ? 5000 : integerInRange(`${field}.revokeGraceMs`, p.revokeGraceMs, 0, MAX_MS);
  const queueLimit = p.queueLimit === undefined ? null : integerInRange(`${field}.queueLimit`, p.queueLimit, 0, 2 ** 31 - 1);
  return Object.freeze({ task, priority, vramMiB, autoVram, maxWaitMs, busyPolicy, holdMaxMs, revokeOnHoldMax, revokeGraceMs, queueLimit });
}

/** Validates the whole `policies` map; at least one task is required. */
export function parsePolicies(value: unknown, field = 'policies'): Map<string, TaskPolicy> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'an object of task policies', value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw invalid(field, 'at least one task policy', value);
  const out = new Map<string, TaskPolicy>();
  for (const [task, policy] of entries) out.set(task, parseTaskPolicy(task, policy, `${field}.${task}`));
  return out;
}
