// How a failed request is counted and what the caller sees: one table, so acquire() and run()
// cannot drift apart.
import { GpuArbiterError, isGpuArbiterError, type ErrorCode } from '../errors';
import type { TaskPolicy } from './task-policy';

/** How one request for a task ended; the `outcome` label of gpu_arbiter_acquire_total. */
export const Outcomes = ['acquired', 'timeout', 'aborted', 'busy', 'queue-full', 'does-not-fit', 'no-device', 'skipped', 'fell-back', 'error'] as const;
export type Outcome = (typeof Outcomes)[number];

const OUTCOME_OF: Partial<Record<ErrorCode, Outcome>> = {
  E_TIMEOUT: 'timeout',
  E_ABORTED: 'aborted',
  E_QUEUE_FULL: 'queue-full',
  E_DOES_NOT_FIT: 'does-not-fit',
  E_NO_DEVICE: 'no-device',
};

/** The outcome label for a failure, and the error to throw (a REJECT task's miss is E_BUSY). */
export function classifyFailure(policy: TaskPolicy, err: unknown): { outcome: Outcome; error: unknown } {
  if (!isGpuArbiterError(err)) return { outcome: 'error', error: err };
  if (err.code === 'E_TIMEOUT' && policy.busyPolicy === 'REJECT') {
    // REJECT asks the backend to try once; "not now" is E_BUSY to the caller, not a timeout.
    const busy = new GpuArbiterError('E_BUSY', `No GPU free for ${policy.task} (busyPolicy REJECT)`, { task: policy.task }, { cause: err });
    return { outcome: 'busy', error: busy };
  }
  return { outcome: OUTCOME_OF[err.code] ?? 'error', error: err };
}

/** The outcome label of an error acquire() handed its caller (after classifyFailure: E_BUSY included). */
export function outcomeOfError(err: unknown): Outcome {
  if (!isGpuArbiterError(err)) return 'error';
  if (err.code === 'E_BUSY') return 'busy';
  return OUTCOME_OF[err.code] ?? 'error';
}
