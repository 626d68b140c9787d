// `gpu-arbiter exec`: the arbiter it acquires through. Without --config: one task built from the
// flags, on the chosen backend, with the default GpuMonitor (NVML). With --config: the profile
// (GpuArbiter.fromFile), --task one of its tasks, --busy/--backend/--namespace/--redis
// overriding it; --vram, --priority and --max-wait are per-call options of the acquire.
import { readConfigFile } from '../arbiter/config-file';
import { GpuArbiter } from '../arbiter/gpu-arbiter';
import type { GpuArbiterOptions } from '../arbiter/options';
import { GpuArbiterError } from '../errors';
import { otelApiAvailable } from '../otel/api';
import type { OtelOption } from '../otel/options';
import type { BusyPolicy, TaskPolicy, TaskPolicyInput } from '../policy/task-policy';
import { DEFAULT_PRIORITY, type ExecBusy, type ExecOptions } from './exec-args';

const BUSY: Record<ExecBusy, BusyPolicy> = { wait: 'WAIT', skip: 'SKIP', reject: 'REJECT' };

/** An arbiter for one exec, and the policy its task runs under. */
export interface ExecArbiter {
  arbiter: GpuArbiter;
  policy: TaskPolicy;
}

/** The profile fromFile() would pick when none is given. */
function defaultProfile(): string {
  return process.env.GPU_ARBITER_PROFILE ?? process.env.NODE_ENV ?? 'dev';
}

export async function openExecArbiter(o: ExecOptions): Promise<ExecArbiter> {
  const where: Partial<GpuArbiterOptions> = {};
  if (o.backend !== undefined) where.backend = o.backend;
  if (o.namespace !== undefined) where.namespace = o.namespace;
  if (o.redis !== undefined) where.redis = o.redis;
  // Traced where @opentelemetry/api is installed: the spans descend from the caller's TRACEPARENT,
  // and the command gets the gpu.lease span's (exec.ts). With no SDK registered this costs nothing.
  const otel: OtelOption = otelApiAvailable() ? { traceparent: process.env.TRACEPARENT } : false;
  let arbiter: GpuArbiter;
  if (o.config === undefined) {
    const policy: TaskPolicyInput = { priority: o.priority ?? DEFAULT_PRIORITY, vramMiB: o.vramMiB!, busyPolicy: BUSY[o.busy ?? 'wait'] };
    if (o.maxWaitMs !== undefined) policy.maxWaitMs = o.maxWaitMs;
    arbiter = await GpuArbiter.create({ backend: 'host', ...where, policies: { [o.task]: policy }, otel });
  } else {
    const profile = o.profile ?? defaultProfile();
    if (o.busy !== undefined) {
      // The busy policy is the task's, not a per-call option: this arbiter gets the task with it.
      const policies = { ...(readConfigFile(o.config, profile).policies ?? {}) };
      const task = policies[o.task];
      if (task !== undefined && task !== null && typeof task === 'object') policies[o.task] = { ...task, busyPolicy: BUSY[o.busy] };
      where.policies = policies;
    }
    arbiter = await GpuArbiter.fromFile(o.config, { profile, ...where, otel });
  }
  const policy = arbiter.policies().get(o.task);
  if (policy === undefined) {
    const known = [...arbiter.policies().keys()].join(', ');
    await arbiter.close();
    throw new GpuArbiterError('E_UNKNOWN_TASK', `Unknown task ${JSON.stringify(o.task)} (--task); ${o.config} has: ${known}`, { task: o.task });
  }
  return { arbiter, policy };
}
