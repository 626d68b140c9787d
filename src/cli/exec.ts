// `gpu-arbiter exec [options] -- <command> [args...]`: any program under a GPU lease.
// Spawn first (held at a gate, exec-child.ts), acquire second with the child's pid, then open
// the gate with the lease's environment - or refuse it and run --fallback. Signals go to the
// command (exec-signals.ts); a lost lease stops it (SIGTERM, SIGKILL after --grace); the hold
// is released when it exits. Exit codes: exec-codes.ts.
import type { GpuArbiter } from '../arbiter/gpu-arbiter';
import type { Lease } from '../arbiter/lease';
import { isGpuArbiterError } from '../errors';
import { flushOtel } from '../otel/api';
import { leaseTraceparent } from '../otel/lease-context';
import type { TaskPolicy } from '../policy/task-policy';
import { type CliIo, defaultIo } from './args';
import { EXEC_HELP, type ExecOptions, parseExecArgs } from './exec-args';
import { type ExecArbiter, openExecArbiter } from './exec-arbiter';
import { type ChildExit, GatedChild, probeDeathSignal, startFallback } from './exec-child';
import { codeOfExit, ExecExit, notGranted, signalNumber } from './exec-codes';
import { type RelayedSignal, SignalRelay, terminalDelivered } from './exec-signals';

export { ExecExit } from './exec-codes';

/**
 * What the command runs with besides the caller's environment. TRACEPARENT: the lease's
 * `gpu.lease` span where tracing is on (an inherited TRACEPARENT is passed on as it is otherwise).
 */
export function leaseEnvironment(lease: Lease): Record<string, string> {
  const env: Record<string, string> = {
    ...lease.env,
    GPU_ARBITER_FENCING_TOKEN: String(lease.fencingToken),
    GPU_ARBITER_LEASE_ID: lease.id,
  };
  const traceparent = leaseTraceparent(lease);
  if (traceparent !== null) env.TRACEPARENT = traceparent;
  return env;
}

/** The --json line (stderr, once granted). */
export function leaseJson(lease: Lease, pid: number): string {
  return JSON.stringify({
    leaseId: lease.id,
    task: lease.task,
    devices: lease.devices.map(({ index, uuid, name }) => ({ index, uuid, name })),
    fencingToken: lease.fencingToken,
    waitedMs: lease.waitedMs,
    vramMiB: lease.vramMiB,
    pid,
  });
}

const PREFIX = 'gpu-arbiter exec:';

function byFirstSignal(relay: SignalRelay): number {
  return ExecExit.SIGNAL_BASE + (signalNumber(relay.first!) ?? 0);
}

/** One exec, from spawn to exit code. */
class ExecRun {
  /** What a signal to the wrapper is passed to while the command (or the fallback) runs. */
  private target: { kill(signal: NodeJS.Signals): void } | null = null;
  private waiting: AbortController | null = null;
  private gated: GatedChild | null = null;
  private readonly relay = new SignalRelay((signal) => this.onSignal(signal));

  constructor(
    /** null: no arbiter could be made (the ledger is unreachable); only fallbackOnly() runs. */
    private readonly opened: ExecArbiter | null,
    private readonly o: ExecOptions,
    private readonly io: CliIo,
    private readonly deathPrefix: string[],
  ) {}

  private say(line: string): void {
    this.io.err.write(`${PREFIX} ${line}\n`);
  }

  private onSignal(signal: RelayedSignal): void {
    if (this.waiting !== null) {
      // No GPU yet: give up the wait; the gated shell has run nothing, so it may die at once.
      this.waiting.abort(new Error(`${signal} while waiting for the GPU`));
      this.gated?.kill('SIGKILL');
      return;
    }
    if (this.target !== null && !terminalDelivered(signal)) this.target.kill(signal);
  }

  async run(): Promise<number> {
    this.relay.install();
    try {
      return await this.runInstalled(this.opened!.arbiter, this.opened!.policy);
    } finally {
      this.relay.uninstall();
    }
  }

  /** No arbiter to ask (the ledger is unreachable): the --fallback runs, as after a refusal. */
  async fallbackOnly(shellCommand: string): Promise<number> {
    this.relay.install();
    try {
      return await this.runFallback(shellCommand);
    } finally {
      this.relay.uninstall();
    }
  }

  private async runInstalled(arbiter: GpuArbiter, policy: TaskPolicy): Promise<number> {
    const o = this.o;
    let child: GatedChild;
    try {
      child = await GatedChild.start(o.command, this.deathPrefix);
    } catch (err) {
      this.say((err as Error).message);
      return ExecExit.ERROR;
    }
    this.gated = child;
    const waiting = new AbortController();
    this.waiting = waiting;
    if (this.relay.first !== null) waiting.abort(new Error(`${this.relay.first} while starting`));
    // A command killed at the gate (by the terminal, by someone else): stop waiting for it.
    void child.exited.then(() => waiting.abort(new Error('the command exited before the GPU was granted')));
    let lease: Lease;
    try {
      lease = await arbiter.acquire(o.task, {
        pid: child.pid,
        signal: waiting.signal,
        ...(o.vramMiB === undefined ? {} : { vramMiB: o.vramMiB }),
        ...(o.gpus === 1 ? {} : { gpus: o.gpus }),
        ...(o.priority === undefined ? {} : { priority: o.priority }),
        ...(o.maxWaitMs === undefined ? {} : { maxWaitMs: o.maxWaitMs }),
        ...(o.label === undefined ? {} : { label: o.label }),
      });
    } catch (err) {
      this.waiting = null;
      const diedFirst = child.exit;
      child.refuse();
      const exit = await child.exited;
      if (this.relay.first !== null) return byFirstSignal(this.relay);
      if (diedFirst !== null) return this.gateDied(exit);
      const why = notGranted(err, policy.busyPolicy);
      if (o.fallback !== undefined && why.fallback) {
        this.say(`${why.why}; running the fallback instead`);
        return this.runFallback(o.fallback);
      }
      this.say(`${why.why}; nothing ran (exit ${why.code})`);
      return why.code;
    }
    this.waiting = null;
    if (this.relay.first !== null || child.exit !== null) {
      // Granted in the same turn as a signal or the command's death: give it straight back.
      await lease.release();
      child.kill('SIGKILL');
      const exit = await child.exited;
      return this.relay.first !== null ? byFirstSignal(this.relay) : this.gateDied(exit);
    }
    return this.runGranted(arbiter, child, lease);
  }

  private gateDied(exit: ChildExit): number {
    this.say(`the command was stopped before the GPU was granted (${exit.signal ?? `exit ${exit.code}`}); nothing ran`);
    return codeOfExit(exit.code, exit.signal);
  }

  private async runGranted(arbiter: GpuArbiter, child: GatedChild, lease: Lease): Promise<number> {
    const o = this.o;
    if (o.json) this.io.err.write(`${leaseJson(lease, child.pid)}\n`);
    let lostWhy: string | null = null;
    let killTimer: NodeJS.Timeout | null = null;
    const onLost = (): void => {
      const reason = lease.lost.reason as Error | undefined;
      lostWhy = reason?.message ?? 'lost';
      this.say(`lease lost (${lostWhy}): SIGTERM to the command, SIGKILL in ${o.graceMs} ms`);
      child.kill('SIGTERM');
      killTimer = setTimeout(() => {
        if (child.exit !== null) return;
        this.say(`the command outlived --grace ${o.graceMs} ms: SIGKILL`);
        child.kill('SIGKILL');
      }, o.graceMs);
    };
    const onWatchdog = (e: { lease: { id: string }; heldMs: number; holdMaxMs: number; willRevoke: boolean }): void => {
      if (e.lease.id !== lease.id) return;
      this.say(`held ${e.heldMs} ms, over the task's holdMaxMs ${e.holdMaxMs}${e.willRevoke ? '; the lease will be revoked' : ''}`);
    };
    const onOveruse = (e: { lease: { id: string }; device: number; pid: number; declaredMiB: number; usedMiB: number }): void => {
      if (e.lease.id !== lease.id) return;
      this.say(`the command (pid ${e.pid}) uses ${e.usedMiB} MiB of GPU ${e.device}, over the ${e.declaredMiB} MiB it declared`);
    };
    arbiter.on('watchdog', onWatchdog);
    arbiter.on('overuse', onOveruse);
    this.target = child;
    let exit: ChildExit;
    try {
      child.open(leaseEnvironment(lease));
      if (lease.lost.aborted) onLost();
      else lease.lost.addEventListener('abort', onLost, { once: true });
      exit = await child.exited;
    } finally {
      this.target = null;
      lease.lost.removeEventListener('abort', onLost);
      arbiter.off('watchdog', onWatchdog);
      arbiter.off('overuse', onOveruse);
      if (killTimer !== null) clearTimeout(killTimer);
      await lease.release();
    }
    if (lostWhy !== null) {
      this.say(`the command was stopped because its lease was lost (${exit.signal ?? `exit ${exit.code}`}); exit ${ExecExit.LEASE_LOST}`);
      return ExecExit.LEASE_LOST;
    }
    return codeOfExit(exit.code, exit.signal);
  }

  private async runFallback(shellCommand: string): Promise<number> {
    const fallback = startFallback(shellCommand, this.deathPrefix);
    this.target = fallback;
    try {
      const exit = await fallback.exited;
      if (exit.error !== undefined) this.say(`cannot start the fallback: ${exit.error}`);
      return codeOfExit(exit.code, exit.signal);
    } finally {
      this.target = null;
    }
  }
}

function usageError(io: CliIo, err: unknown): number {
  if (!isGpuArbiterError(err)) throw err;
  io.err.write(`${PREFIX} ${err.code}: ${err.message}\nRun "gpu-arbiter exec --help" for the options.\n`);
  return ExecExit.USAGE;
}

/** Entry point of `gpu-arbiter exec`; resolves to the exit code. */
export async function runExec(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  let o: ExecOptions | 'help';
  try {
    o = parseExecArgs(argv);
  } catch (err) {
    return usageError(io, err);
  }
  if (o === 'help') {
    io.out.write(`${EXEC_HELP}\n`);
    return 0;
  }
  const death = probeDeathSignal();
  if (death.warning !== null) io.err.write(`${PREFIX} warning: ${death.warning}\n`);
  let opened: ExecArbiter;
  try {
    opened = await openExecArbiter(o);
  } catch (err) {
    if (isGpuArbiterError(err, 'E_INVALID_ARGUMENT') || isGpuArbiterError(err, 'E_UNKNOWN_TASK')) return usageError(io, err);
    const why = `${isGpuArbiterError(err) ? `${err.code}: ` : ''}${(err as Error).message}`;
    if (o.fallback !== undefined && isGpuArbiterError(err, 'E_BACKEND_UNAVAILABLE')) {
      io.err.write(`${PREFIX} the ledger cannot be reached (${why}); running the fallback instead\n`);
      return new ExecRun(null, o, io, death.prefix).fallbackOnly(o.fallback);
    }
    io.err.write(`${PREFIX} ${why}\n`);
    return ExecExit.ERROR;
  }
  try {
    return await new ExecRun(opened, o, io, death.prefix).run();
  } finally {
    await opened.arbiter.close();
    // The gpu.lease span ended at the release: export it before this process exits.
    await flushOtel();
  }
}
