// `gpu-arbiter exec`: the command's process. It is spawned before the GPU is asked for, so the
// hold can name its pid, and held at a gate until the arbiter has decided:
//
//   [setpriv --pdeathsig KILL --] /bin/sh -c '<GATE>' gpu-arbiter-exec <command> [args...]
//
// The shell reads one line from fd 3 (a pipe from the wrapper), closes fd 3 and evals the line:
// on a grant `export CUDA_VISIBLE_DEVICES='...' ...; exec "$@"` (exec keeps the pid the hold
// names), otherwise `exit 75`. A wrapper that dies before deciding closes the pipe: the shell
// reads nothing and exits 75, so the command never starts without a hold. setpriv (util-linux)
// sets the parent-death signal, which survives the execs: when the wrapper dies, even by
// SIGKILL, the kernel SIGKILLs the command, so it cannot keep running on a GPU nobody holds.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { ExecExit } from './exec-codes';

/** The shell script at the gate; `$@` is the command. */
export const GATE_SCRIPT = `IFS= read -r gate <&3; exec 3<&-; eval "$gate"; exit ${ExecExit.BUSY}`;
/** `$0` of the gate shell (shows in `ps` until the command replaces it). */
export const GATE_NAME = 'gpu-arbiter-exec';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it could not be started (then code is 1). */
  error?: string;
}

/** The argv prefix that ties a child's life to the wrapper's, or why there is none. */
export type DeathSignal = { prefix: string[]; warning: null } | { prefix: []; warning: string };

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Finds `setpriv --pdeathsig` (util-linux 2.33+) once: a child started through it is SIGKILLed by
 * the kernel when the wrapper dies. Without it the command still runs, with a warning.
 */
export function probeDeathSignal(): DeathSignal {
  const setpriv = onPath('setpriv');
  const consequence = 'a command still running when gpu-arbiter exec is killed with SIGKILL keeps running without its GPU hold';
  if (setpriv === null) return { prefix: [], warning: `setpriv (util-linux) not found on PATH: ${consequence}` };
  const prefix = [setpriv, '--pdeathsig', 'KILL', '--'];
  const probe = spawnSync(prefix[0]!, [...prefix.slice(1), '/bin/sh', '-c', ':'], { stdio: 'ignore', timeout: 5000 });
  if (probe.error !== undefined || probe.status !== 0) {
    return { prefix: [], warning: `${setpriv} --pdeathsig does not work here (util-linux 2.33+ needed): ${consequence}` };
  }
  return { prefix, warning: null };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `'value'` for sh, any quote inside escaped. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The line that opens the gate: exports `env`, then replaces the shell with the command. */
export function gateOpenLine(env: Record<string, string>): string {
  const parts = Object.entries(env).map(([k, v]) => {
    // One line is read at the gate: a newline (or NUL) would split or cut it.
    if (!ENV_NAME.test(k) || /[\n\r\0]/.test(v)) throw new Error(`Cannot pass ${JSON.stringify(k)}=${JSON.stringify(v)} to the command`);
    return `${k}=${shellQuote(v)}`;
  });
  return `${parts.length > 0 ? `export ${parts.join(' ')}; ` : ''}exec "$@"\n`;
}

/** A command held at the gate until open() or refuse(). */
export class GatedChild {
  readonly exited: Promise<ChildExit>;
  /** Set once the process has exited. */
  exit: ChildExit | null = null;
  private decided = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    // The gate may be gone (the command died): writing to it then fails with EPIPE; nothing to do.
    this.gate.on('error', () => undefined);
  }

  /** Spawns the gate shell with `command` as its arguments. Rejects when it cannot be spawned. */
  static async start(command: string[], deathPrefix: string[]): Promise<GatedChild> {
    const argv = [...deathPrefix, '/bin/sh', '-c', GATE_SCRIPT, GATE_NAME, ...command];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
    if (child.pid === undefined) {
      const err = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new Error(`Cannot start ${argv[0]}: ${err.message}`);
    }
    return new GatedChild(child, child.pid);
  }

  private get gate(): Writable {
    return this.child.stdio[3] as Writable;
  }

  /** Runs the command with `env` added (once; later calls do nothing). */
  open(env: Record<string, string>): void {
    this.decide(gateOpenLine(env));
  }

  /** Makes the gate exit with `code` without running the command (once). */
  refuse(code: number = ExecExit.BUSY): void {
    this.decide(`exit ${code}\n`);
  }

  private decide(line: string): void {
    if (this.decided) return;
    this.decided = true;
    this.gate.end(line);
  }

  /** Sends `signal` if it is still running. */
  kill(signal: NodeJS.Signals): void {
    if (this.exit === null) this.child.kill(signal);
  }
}

/** Runs a --fallback command with `/bin/sh -c` (with the same parent-death signal). */
export function startFallback(
  shellCommand: string,
  deathPrefix: string[],
): { exited: Promise<ChildExit>; kill(signal: NodeJS.Signals): void; exit: () => ChildExit | null } {
  const argv = [...deathPrefix, '/bin/sh', '-c', shellCommand];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
  let exit: ChildExit | null = null;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
    child.once('error', (err) => {
      exit = { code: ExecExit.ERROR, signal: null, error: err.message };
      resolve(exit);
    });
  });
  return {
    exited,
    kill: (signal) => {
      if (exit === null) child.kill(signal);
    },
    exit: () => exit,
  };
}
