/**
 * Every error gpu-arbiter throws is a {@link GpuArbiterError} with a stable `code`.
 * Messages may improve between versions; codes do not change.
 */
export const ErrorCodes = [
  'E_INVALID_ARGUMENT',
  'E_UNKNOWN_TASK',
  'E_TIMEOUT',
  'E_ABORTED',
  'E_BUSY',
  'E_QUEUE_FULL',
  'E_DOES_NOT_FIT',
  'E_NO_DEVICE',
  'E_LEASE_LOST',
  'E_NOT_OWNER',
  'E_BACKEND_UNAVAILABLE',
  'E_NVML',
  'E_NATIVE_LOAD',
  'E_UNSUPPORTED_PLATFORM',
  'E_CLOSED',
  /** A host ledger's table that has no room left, e.g. its 256 process slots (the message names the limit). */
  'E_LEDGER_FULL',
  /** A host ledger file refused by the trust model: owned by an untrusted user, or open to every user. */
  'E_LEDGER_UNTRUSTED',
] as const;

/** A stable error code; switch on it, not on the message. */
export type ErrorCode = (typeof ErrorCodes)[number];

export interface GpuArbiterErrorDetails {
  /** For `E_NVML`: NVML's return name, e.g. `NVML_ERROR_GPU_IS_LOST`. */
  nvmlReturn?: string;
  /** The GPU index the error is about, where there is one. */
  device?: number;
  /** Anything else worth logging (field name, value received...). */
  [key: string]: unknown;
}

export class GpuArbiterError extends Error {
  readonly code: ErrorCode;
  readonly details: GpuArbiterErrorDetails;

  constructor(code: ErrorCode, message: string, details: GpuArbiterErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GpuArbiterError';
    this.code = code;
    this.details = details;
  }
}

/** True when `err` is a GpuArbiterError, optionally with the given code. */
export function isGpuArbiterError(err: unknown, code?: ErrorCode): err is GpuArbiterError {
  return err instanceof GpuArbiterError && (code === undefined || err.code === code);
}
