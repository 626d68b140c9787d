import { parseArgs } from 'node:util';
import { GpuArbiterError } from '../errors';

/** Where a command writes; tests pass their own to capture the output. */
export interface CliIo {
  out: { write(s: string): unknown; isTTY?: boolean };
  err: { write(s: string): unknown };
  /** Ends a live view (the CLI wires SIGINT to it). */
  signal?: AbortSignal;
}

export const defaultIo = (): CliIo => ({ out: process.stdout, err: process.stderr });

export interface FlagSpec {
  boolean?: string[];
  string?: string[];
}

export type Flags = Record<string, string | boolean | undefined>;

/** Parses --flags strictly: an unknown flag is an E_INVALID_ARGUMENT error that names it. */
export function parseFlags(argv: string[], spec: FlagSpec): Flags {
  const options: Record<string, { type: 'boolean' | 'string'; short?: string }> = {};
  for (const b of spec.boolean ?? []) options[b] = { type: 'boolean' };
  for (const s of spec.string ?? []) options[s] = { type: 'string' };
  if (options.help) options.help.short = 'h';
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Flags;
  } catch (err) {
    throw new GpuArbiterError('E_INVALID_ARGUMENT', (err as Error).message);
  }
}

/**
 * The start of every command: parses its flags (with --help/-h). Returns the flags, or the exit
 * code when the command is done already: 0 after printing the help, 2 after a bad flag (the
 * message, then the help, on stderr).
 */
export function commandFlags(argv: string[], spec: FlagSpec, help: string, io: CliIo): Flags | number {
  let flags: Flags;
  try {
    flags = parseFlags(argv, { ...spec, boolean: [...(spec.boolean ?? []), 'help'] });
  } catch (err) {
    io.err.write(`${(err as Error).message}\n${help}\n`);
    return 2;
  }
  if (flags.help) {
    io.out.write(`${help}\n`);
    return 0;
  }
  return flags;
}

/** Resolves when the command should stop: io.signal aborts, or (without one) SIGINT or SIGTERM. */
export function untilStopped(io: CliIo): Promise<void> {
  return new Promise<void>((resolve) => {
    if (io.signal?.aborted) return resolve();
    io.signal?.addEventListener('abort', () => resolve(), { once: true });
    if (io.signal === undefined) {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }
  });
}
