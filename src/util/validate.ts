import { GpuArbiterError } from '../errors';

// Boundary validation: every public entry point checks its input here, so a bad value is
// refused with E_INVALID_ARGUMENT and a message that names the field and the value.

/** Renders a received value for an error message: short, unambiguous, never throws. */
/** The longest duration (ms) any option takes: setTimeout's limit, past which Node fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}

export function invalid(field: string, expected: string, value: unknown): GpuArbiterError {
  return new GpuArbiterError('E_INVALID_ARGUMENT', `Expected ${expected} for ${field} but received ${describe(value)}`, { field });
}

/** Asserts a plain object (or undefined when optional) and returns it typed. */
export function optionsObject<T extends object>(field: string, value: unknown): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'an object', value);
  return value as Partial<T>;
}

export function integerInRange(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(field, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function nonEmptyString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'a non-empty string', value);
  return value;
}

export function booleanValue(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(field, 'a boolean', value);
  return value;
}

/** Rejects option keys a caller misspelled, so `intervalMS` does not silently do nothing. */
export function knownKeys(field: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new GpuArbiterError('E_INVALID_ARGUMENT', `Unknown option ${field}.${key}; expected one of ${allowed.join(', ')}`, { field: `${field}.${key}` });
    }
  }
}

export function nonNegativeNumber(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw invalid(field, 'a finite number >= 0', value);
  return value;
}
