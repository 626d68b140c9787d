import { parseArgs } from 'node:util';
import { GpuArbiterError } from '../errors';

export interface FlagSpec {
  boolean?: string[];
  string?: string[];
}

/** Parses --flags strictly: an unknown flag is an error that names it. */
export function parseFlags(argv: string[], spec: FlagSpec): Record<string, string | boolean | undefined> {
  const options: Record<string, { type: 'boolean' | 'string' }> = {};
  for (const b of spec.boolean ?? []) options[b] = { type: 'boolean' };
  for (const s of spec.string ?? []) options[s] = { type: 'string' };
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (err) {
    throw new GpuArbiterError('E_INVALID_ARGUMENT', (err as Error).message);
  }
}
