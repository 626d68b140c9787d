// `gpu-arbiter exec`: its exit codes, and which arbiter error means which. Documented in the
// README ("Any program under a lease"); scripts switch on them, so they never change.
import { constants } from 'node:os';
import { isGpuArbiterError } from '../errors';
import type { BusyPolicy } from '../policy/task-policy';

/** Exit codes of `gpu-arbiter exec` other than the command's own. */
export const ExecExit = Object.freeze({
  /** Something else went wrong (the backend could not be reached, an unexpected error). */
  ERROR: 1,
  /** Bad flags, a missing command, an unknown task: nothing was acquired or run. */
  USAGE: 2,
  /** No GPU could ever hold the request (E_DOES_NOT_FIT, E_NO_DEVICE): nothing ran. */
  NO_FIT: 69,
  /** The lease was lost while the command ran (revoked, TTL expired, watchdog): it was stopped. */
  LEASE_LOST: 70,
  /** The GPU was busy under --busy skip or reject (or a full queue): nothing ran. */
  BUSY: 75,
  /** --busy wait with --max-wait: the wait ran out (E_TIMEOUT): nothing ran. */
  TIMEOUT: 124,
  /** Killed by signal N (the command, or the wrapper while it waited): 128 + N. */
  SIGNAL_BASE: 128,
});

/** Why a request ended without a grant, and the code exec exits with for it. */
export interface NotGranted {
  code: number;
  /** The caller's --fallback runs instead (a GPU was not to be had: busy, timeout, never fits, ledger down). */
  fallback: boolean;
  /** One line for stderr. */
  why: string;
}

/** What a failed acquire() means to exec, given the busy policy the task ran under. */
export function notGranted(err: unknown, busy: BusyPolicy): NotGranted {
  const message = (err as Error)?.message ?? String(err);
  if (!isGpuArbiterError(err)) return { code: ExecExit.ERROR, fallback: false, why: message };
  const detail = `(${err.code}: ${message})`;
  switch (err.code) {
    case 'E_TIMEOUT':
      // WAIT ran out of --max-wait; SKIP and FALLBACK_CPU wait at most maxWaitMs, then skip.
      return busy === 'WAIT'
        ? { code: ExecExit.TIMEOUT, fallback: true, why: `timed out waiting for the GPU ${detail}` }
        : { code: ExecExit.BUSY, fallback: true, why: `the GPU is busy ${detail}` };
    case 'E_BUSY':
    case 'E_QUEUE_FULL':
      return { code: ExecExit.BUSY, fallback: true, why: `the GPU is busy ${detail}` };
    case 'E_DOES_NOT_FIT':
    case 'E_NO_DEVICE':
      return { code: ExecExit.NO_FIT, fallback: true, why: `no GPU can ever hold this request ${detail}` };
    case 'E_BACKEND_UNAVAILABLE':
      // As FALLBACK_CPU does: no GPU can be had while the ledger is down, so the CPU path runs.
      return { code: ExecExit.ERROR, fallback: true, why: `the ledger cannot be reached ${detail}` };
    case 'E_INVALID_ARGUMENT':
    case 'E_UNKNOWN_TASK':
      return { code: ExecExit.USAGE, fallback: false, why: `${err.code}: ${message}` };
    default:
      return { code: ExecExit.ERROR, fallback: false, why: `${err.code}: ${message}` };
  }
}

/** The exit code for a process that exited with `code` or was killed by `signal`. */
export function codeOfExit(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal === null ? undefined : signalNumber(signal);
  return n === undefined ? ExecExit.ERROR : ExecExit.SIGNAL_BASE + n;
}

export function signalNumber(signal: NodeJS.Signals): number | undefined {
  return constants.signals[signal];
}
