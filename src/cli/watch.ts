// `gpu-arbiter watch`: a live terminal view of devices, VRAM, holders and waiters, drawn from
// arbiter.snapshot() on every monitor sample (and at least every --interval).
import * as fs from 'node:fs';
import { GpuArbiter } from '../arbiter/gpu-arbiter';
import { isGpuArbiterError } from '../errors';
import { commandFlags, defaultIo, type CliIo } from './args';
import { renderSnapshot } from './render';

export type { CliIo } from './args';

/** Where the CLI writes; tests pass their own. */

/** Options of {@link liveView}. */
export interface LiveViewOptions {
  out: CliIo['out'];
  /** Redraw at least this often, in ms. @default 1000 */
  intervalMs?: number;
  /** ANSI colours and in-place redraw. @default out.isTTY */
  tty?: boolean;
  /** Text under the frame (e.g. what the demo is doing). */
  footer?: () => string;
  /** Show the per-task table. @default true */
  tasks?: boolean;
}

/**
 * Redraws `arbiter.snapshot()` on every event that changes it and every `intervalMs`; returns
 * a function that stops it. A service can use it to watch its own arbiter.
 */
export function liveView(arbiter: GpuArbiter, options: LiveViewOptions): () => void {
  const tty = options.tty ?? options.out.isTTY === true;
  let scheduled = false;
  const draw = (): void => {
    scheduled = false;
    const h = arbiter.health();
    const healthLine =
      h.status === 'ok'
        ? 'health ok'
        : `health ${h.status}: ${h.checks
            .filter((c) => c.status !== 'ok')
            .map((c) => `${c.name}: ${c.detail}`)
            .join('; ')}`;
    const frame = `${renderSnapshot(arbiter.snapshot(), { color: tty, tasks: options.tasks })}\n${healthLine}`;
    const footer = options.footer ? `\n${options.footer()}` : '';
    // In a terminal: home + clear, so the view stays in place; piped: frames one after another.
    options.out.write(tty ? `\u001b[H\u001b[2J${frame}${footer}\n` : `${frame}${footer}\n\n`);
  };
  // Coalesce bursts of events into one frame per tick.
  const soon = (): void => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(draw);
    }
  };
  const events = ['acquired', 'released', 'skipped', 'fell-back', 'timeout', 'watchdog', 'lease-lost', 'waiting', 'alert'];
  if (tty) for (const e of events) arbiter.on(e, soon);
  const timer = setInterval(draw, options.intervalMs ?? 1000);
  draw();
  return () => {
    clearInterval(timer);
    for (const e of events) arbiter.off(e, soon);
  };
}

const HELP = `Usage: gpu-arbiter watch [--interval MS] [--once] [--policies FILE.json]

Live view of the GPUs (NVML), their VRAM budget, holders and waiters.
  --interval MS     redraw and sample every MS milliseconds (default 1000)
  --once            print one frame and exit
  --policies FILE   task policies (JSON object, as GpuArbiter.create's policies)
With the local backend a watcher sees its own process only: holders and waiters of other
processes appear once the host backend is in use.`;

/** Entry point of `gpu-arbiter watch`; resolves to the exit code. */
export async function runWatch(args: string[], io: CliIo = defaultIo()): Promise<number> {
  const parsed = commandFlags(args, { boolean: ['once'], string: ['interval', 'policies'] }, HELP, io);
  if (typeof parsed === 'number') return parsed;
  const values = parsed as { interval?: string; once?: boolean; policies?: string };
  const intervalMs = values.interval === undefined ? 1000 : Number(values.interval);
  if (!Number.isInteger(intervalMs) || intervalMs < 50) {
    io.err.write(`Expected an integer >= 50 for --interval but received ${JSON.stringify(values.interval)}\n`);
    return 2;
  }
  let policies: Record<string, never> | Record<string, unknown>;
  try {
    // A watcher acquires nothing; the arbiter still needs one task to be valid.
    policies = values.policies ? (JSON.parse(fs.readFileSync(values.policies, 'utf8')) as Record<string, unknown>) : { watch: { priority: 0, vramMiB: 1 } };
  } catch (err) {
    io.err.write(`Cannot read --policies ${values.policies}: ${(err as Error).message}\n`);
    return 2;
  }
  let arbiter: GpuArbiter;
  try {
    arbiter = await GpuArbiter.create({ policies: policies as never, monitorOptions: { intervalMs } });
  } catch (err) {
    io.err.write(`gpu-arbiter watch: ${isGpuArbiterError(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`);
    return 1;
  }
  try {
    if (values.once) {
      io.out.write(`${renderSnapshot(arbiter.snapshot(), { color: io.out.isTTY === true, tasks: values.policies !== undefined })}\n`);
      return 0;
    }
    const stop = liveView(arbiter, { out: io.out, intervalMs, tasks: values.policies !== undefined });
    await new Promise<void>((resolve) => {
      if (io.signal?.aborted) return resolve();
      io.signal?.addEventListener('abort', () => resolve(), { once: true });
      if (io.signal === undefined) process.once('SIGINT', () => resolve());
    });
    stop();
    return 0;
  } finally {
    await arbiter.close();
  }
}
