// `gpu-arbiter dashboard`: the live web dashboard (src/dashboard/) of this host - its GPUs from
// NVML and every host ledger - or, with --redis, of a Redis namespace's live nodes. One page,
// pushed to by server-sent events; read-only. `serveDashboard` is shared with `demo --dashboard`.
import * as http from 'node:http';
import { hostNamespacePath } from '../backends/host/namespaces';
import { GpuArbiterError } from '../errors';
import { createDashboardHandler, type DashboardHandler, parseDashboardOptions } from '../dashboard/handler';
import { hostSource } from '../dashboard/host-source';
import { redisSource } from '../dashboard/redis-source';
import type { DashboardSource } from '../dashboard/types';
import { GpuMonitor } from '../gpu/monitor';
import { commandFlags, defaultIo, type CliIo, untilStopped } from './args';
import { intFlag } from './metrics';

const HELP = `Usage: gpu-arbiter dashboard [--port N] [--bind ADDR] [--token T] [--interval MS]
                            [--host-namespace NS] [--nvml-lib PATH]
       gpu-arbiter dashboard --redis URL [--namespace NS] [--port N] [--bind ADDR] [--token T]

Serves a live web page at http://ADDR:N/: per GPU its VRAM as a stacked bar (each holder's
declared MiB with its job label, task and pid; outside use seen by NVML; reserved; free budget),
utilisation, temperature and power; each GPU's queue with position, priority, time waited and
ETA; charts of the last 5 minutes (VRAM, utilisation, queue length, grants/s, wait p95); alerts
as they happen. The page is pushed to (server-sent events), loads nothing from the internet and
changes nothing. Runs until Ctrl-C.

  --port N             port to listen on (default 9465; 0 picks a free one)
  --bind ADDR          address to listen on (default 127.0.0.1; give a --token when binding wider)
  --token T            required as ?token=T (or Authorization: Bearer T); default: the
                       GPU_ARBITER_DASHBOARD_TOKEN environment variable, else none
  --interval MS        how often the view is read and the charts step (default 1000; 2000 with --redis)
  --host-namespace NS  only this host ledger namespace (default: all on this host)
  --nvml-lib PATH      NVML library to open (default: $GPU_ARBITER_NVML_LIB or libnvidia-ml.so.1)
  --redis URL          show a Redis namespace's live nodes instead (redis://[:password@]host:port;
                       the password is never shown)
  --namespace NS       the arbiter namespace in Redis (default: default)
  --title TEXT         the page's heading
`;

/** Listens with `handler` until io.signal aborts (or SIGINT/SIGTERM); `onListening` gets the bound port. */
export async function serveDashboard(
  handler: DashboardHandler,
  o: { port: number; bind: string; io: CliIo; onListening?: (port: number) => void; label: string },
): Promise<void> {
  const server = http.createServer(handler);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.bind, () => resolve());
    });
  } catch (err) {
    await handler.close();
    // EADDRINUSE, EACCES, a bad --bind: the user's flags, said as such (exit 2), not a stack trace.
    throw new GpuArbiterError('E_INVALID_ARGUMENT', `Cannot listen on ${o.bind}:${o.port}: ${(err as Error).message}`, { field: '--port' });
  }
  const bound = (server.address() as { port: number }).port;
  const host = o.bind.includes(':') ? `[${o.bind}]` : o.bind;
  o.io.err.write(`gpu-arbiter ${o.label}: dashboard at http://${host}:${bound}/\n`);
  o.onListening?.(bound);
  await untilStopped(o.io);
  // Open event streams never end by themselves: close them before waiting for the server.
  await handler.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Entry point of `gpu-arbiter dashboard`; `onListening` (tests) gets the bound port. */
export async function runDashboardCommand(argv: string[], io: CliIo = defaultIo(), onListening?: (port: number) => void): Promise<number> {
  const strings = ['port', 'bind', 'token', 'interval', 'host-namespace', 'nvml-lib', 'redis', 'namespace', 'title'];
  const flags = commandFlags(argv, { string: strings }, HELP, io);
  if (typeof flags === 'number') return flags;
  const redis = flags.redis as string | undefined;
  const port = intFlag('port', flags.port, 0, 65535, 9465);
  const intervalMs = intFlag('interval', flags.interval, 100, 60_000, redis === undefined ? 1000 : 2000);
  const hostNs = flags['host-namespace'] as string | undefined;
  if (hostNs !== undefined) hostNamespacePath(hostNs); // refuses a malformed name (exit 2)
  const token = (flags.token as string | undefined) ?? (process.env.GPU_ARBITER_DASHBOARD_TOKEN || undefined);
  const options = parseDashboardOptions({ intervalMs, ...(token === undefined ? {} : { token }), ...(flags.title ? { title: flags.title } : {}) });
  let source: DashboardSource;
  let monitor: GpuMonitor | null = null;
  if (redis !== undefined) {
    source = redisSource({ redis, namespace: (flags.namespace as string | undefined) ?? 'default', title: options.title });
  } else {
    const libraryPath = flags['nvml-lib'] as string | undefined;
    monitor = await GpuMonitor.create({ intervalMs, ...(libraryPath ? { libraryPath } : {}) });
    source = hostSource({ monitor, ...(hostNs === undefined ? {} : { namespaces: [hostNs] }), title: options.title });
  }
  try {
    const handler = createDashboardHandler(source, options);
    await serveDashboard(handler, { port, bind: (flags.bind as string | undefined) ?? '127.0.0.1', io, onListening, label: 'dashboard' });
    return 0;
  } finally {
    await monitor?.stop();
  }
}
