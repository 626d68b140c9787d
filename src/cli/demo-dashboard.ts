// `gpu-arbiter demo --dashboard`: the demo's arbiter served as the live web dashboard
// (arbiter.dashboardHandler(), src/dashboard/) while the simulated pipeline runs, so the page can
// be tried with no GPU. The demo then runs until Ctrl-C (or io.signal) instead of for --duration.
import type { GpuArbiter } from '../arbiter/gpu-arbiter';
import type { CliIo } from './args';
import { serveDashboard } from './dashboard';
import { intFlag } from './metrics';

export interface DemoDashboard {
  /** Aborts on Ctrl-C (or io.signal): the demo stops sending work. */
  signal: AbortSignal;
  /** Resolves once the server is closed. */
  done: Promise<void>;
}

export interface DemoDashboardFlags {
  port?: string;
  bind?: string;
  token?: string;
}

/** Starts serving `arbiter`'s dashboard; `onListening` (tests) gets the bound port. */
export async function startDemoDashboard(
  arbiter: GpuArbiter,
  flags: DemoDashboardFlags,
  io: CliIo,
  onListening?: (port: number) => void,
): Promise<DemoDashboard> {
  const port = intFlag('port', flags.port, 0, 65535, 9465);
  const token = flags.token ?? (process.env.GPU_ARBITER_DASHBOARD_TOKEN || undefined);
  const handler = arbiter.dashboardHandler({ title: 'gpu-arbiter demo · simulated speech pipeline', ...(token === undefined ? {} : { token }) });
  const stop = new AbortController();
  if (io.signal !== undefined) {
    if (io.signal.aborted) stop.abort();
    else io.signal.addEventListener('abort', () => stop.abort(), { once: true });
  } else {
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
  }
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => {
    listening = resolve;
  });
  const done = serveDashboard(handler, {
    port,
    bind: flags.bind ?? '127.0.0.1',
    io: { ...io, signal: stop.signal },
    label: 'demo',
    onListening: (p) => {
      listening();
      onListening?.(p);
    },
  });
  // A failed listen (port taken) rejects `done` before `ready`: surface it here.
  await Promise.race([ready, done]);
  return { signal: stop.signal, done };
}
