// One job under one lease: the processor runs with the lease and an AbortSignal; BullMQ's lock
// is extended every lockDuration/2 while it runs; the lease is released when the processor
// settles, and the job is completed or failed. A lost lease aborts the signal and fails the job
// at once with E_LEASE_LOST, which BullMQ retries while the job has attempts left (the processor
// may still be running: its result is then ignored). A lost lock (the job stalled and was moved
// back by BullMQ) aborts the signal too, and the job is left to whoever holds it now.
import type { Job } from 'bullmq';
import type { Lease } from '../arbiter/lease';
import { GpuArbiterError } from '../errors';
import type { GpuProcessor } from './options';

/** How a job ended, for the worker's events. */
export type JobEnd<R> =
  | { kind: 'completed'; result: R }
  | { kind: 'failed'; error: Error }
  | { kind: 'lease-lost'; error: GpuArbiterError }
  | { kind: 'lock-lost'; error: Error };

export interface JobRunHooks {
  /** Something went wrong off the job's path (a BullMQ call failed): the worker's `error` event. */
  error(err: unknown): void;
}

/** Runs `job` (taken with `token`) under `lease`; resolves once the job is settled in BullMQ. */
export async function runJob<D, R>(
  job: Job<D, R>,
  token: string,
  lease: Lease,
  processor: GpuProcessor<D, R>,
  lockDuration: number,
  hooks: JobRunHooks,
): Promise<JobEnd<R>> {
  const controller = new AbortController();
  let end: JobEnd<R> | null = null;
  let lockTimer: NodeJS.Timeout | undefined;
  /** The move to failed after a lost lease, awaited before this returns. */
  let failing: Promise<unknown> = Promise.resolve();
  const settle = (e: JobEnd<R>): boolean => {
    if (end !== null) return false;
    end = e;
    // Settled by a loss: the lock is not ours to extend any more.
    if (e.kind === 'lease-lost' || e.kind === 'lock-lost') clearInterval(lockTimer);
    return true;
  };

  const onLost = (): void => {
    const reason = (lease.lost.reason as GpuArbiterError | undefined)?.details?.reason ?? 'lost';
    const error = new GpuArbiterError('E_LEASE_LOST', `The GPU lease of job ${job.id} was lost (${String(reason)}); the job is failed to be retried`, {
      reason,
    });
    if (!settle({ kind: 'lease-lost', error })) return;
    controller.abort(error);
    failing = job.moveToFailed(error, token, false).catch(hooks.error);
  };
  const extend = async (): Promise<void> => {
    try {
      const ok = await job.extendLock(token, lockDuration);
      if (ok) return;
    } catch (err) {
      hooks.error(err);
    }
    const error = new Error(`The lock of job ${job.id} was lost (stalled and moved back by BullMQ)`);
    if (settle({ kind: 'lock-lost', error })) controller.abort(error);
  };
  lockTimer = setInterval(() => void extend(), Math.max(1, Math.floor(lockDuration / 2)));
  if (lease.lost.aborted) onLost();
  else lease.lost.addEventListener('abort', onLost, { once: true });

  let outcome: { ok: true; value: R } | { ok: false; error: Error };
  try {
    outcome = { ok: true, value: await processor(job, { lease, signal: controller.signal, token }) };
  } catch (err) {
    outcome = { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  } finally {
    clearInterval(lockTimer);
    lease.lost.removeEventListener('abort', onLost);
  }
  // The GPU work is over: give the GPU back before the round trips to BullMQ.
  await lease.release();
  if (outcome.ok && settle({ kind: 'completed', result: outcome.value })) {
    await job.moveToCompleted(outcome.value, token, false).catch(hooks.error);
  } else if (!outcome.ok && settle({ kind: 'failed', error: outcome.error })) {
    await job.moveToFailed(outcome.error, token, false).catch(hooks.error);
  }
  await failing;
  return end!;
}
