// The errors a backend's waiter ends with, worded the same whatever the backend.
import { GpuArbiterError } from '../errors';
import type { AcquireRequest } from './contract';

/** The request waited until its deadline. */
export function waitTimeout(request: AcquireRequest, waitedMs: number): GpuArbiterError {
  return new GpuArbiterError('E_TIMEOUT', `Timed out after ${waitedMs} ms waiting for ${request.units} units of ${request.resource}`, {
    resource: request.resource,
    task: request.holder.task,
    waitedMs,
  });
}

/** The request's AbortSignal fired. */
export function waitAborted(signal: AbortSignal): GpuArbiterError {
  return new GpuArbiterError('E_ABORTED', 'The acquire was aborted', { reason: signal.reason }, { cause: signal.reason });
}
