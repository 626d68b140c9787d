// The errors HostLedger turns ledger answers into (./ledger.ts), and the one way a native call
// is made where nobody could catch a throw.
import { GpuArbiterError } from '../../errors';
import type { RawHostCodes } from '../../native/addon';
import { invalid } from '../../util/validate';

/** @internal What an acquire status other than granted, queued or busy means. */
export function acquireFailure(
  codes: RawHostCodes['acquire'],
  code: number,
  namespace: string,
  resource: string,
  units: number,
  capacity: () => string,
): GpuArbiterError {
  if (code === codes.DOES_NOT_FIT) {
    return new GpuArbiterError('E_DOES_NOT_FIT', `${units} unit(s) can never fit ${resource} (capacity ${capacity()})`, { resource, units });
  }
  if (code === codes.TABLE_FULL) {
    return new GpuArbiterError('E_QUEUE_FULL', `The host ledger ${namespace} has no free holder/waiter slot`, { resource });
  }
  if (code === codes.UNKNOWN_RESOURCE) return invalid('resource', `a resource defined in namespace ${namespace}`, resource);
  return new GpuArbiterError('E_BACKEND_UNAVAILABLE', `Unexpected ledger status ${code}`, { resource });
}

/** @internal A request for `resource` whose signal aborted. */
export function abortError(resource: string, signal: AbortSignal): GpuArbiterError {
  return new GpuArbiterError('E_ABORTED', `Acquiring ${resource} was aborted`, { resource, reason: signal.reason });
}

/**
 * @internal A native call made from the waiter thread's callback, where a throw would be an
 * uncaught exception: a ledger that refuses (corrupt, lock stuck) tells the next JS call instead.
 */
export function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // see above
  }
}
