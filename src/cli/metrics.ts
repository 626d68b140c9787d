// `gpu-arbiter metrics`: the host's view (NVML GPU gauges, every host ledger) in the Prometheus
// text format over node:http, for a Prometheus scrape. No framework, no prom-client.
import * as http from 'node:http';
import { GpuMonitor } from '../gpu/monitor';
import { readHostLedgers } from '../backends/host/status';
import { hostFamilies } from './host-metrics';
import { formatPrometheus, promHandler } from '../metrics/prom-text';
import { GpuArbiterError } from '../errors';
import { commandFlags, defaultIo, type CliIo, untilStopped } from './args';

const HELP = `Usage: gpu-arbiter metrics [--port N] [--bind ADDR] [--interval MS] [--nvml-lib PATH]
                          [--host-namespace NS] [--once]

Serves this host's view for Prometheus at http://ADDR:N/metrics (text format 0.0.4): the GPUs'
VRAM and utilisation from NVML (gpu_memory_used_bytes, gpu_memory_total_bytes,
gpu_utilization_ratio, gpu_arbiter_nvml_available) and every host ledger's resources
(gpu_arbiter_host_capacity_mib, _used_mib, _external_mib, _holders, _waiters, _resource_closed,
gpu_arbiter_host_ownership_violations_total, gpu_arbiter_host_ledger_readable). Runs until
Ctrl-C. GET /healthz answers 200 "ok".

  --port N             port to listen on (default 9464; 0 picks a free one)
  --bind ADDR          address to listen on (default 0.0.0.0)
  --interval MS        NVML sampling interval (default 1000)
  --nvml-lib PATH      NVML library to open (default: $GPU_ARBITER_NVML_LIB or libnvidia-ml.so.1)
  --host-namespace NS  only this host ledger namespace
  --once               print the metrics once to stdout and exit
`;

export function intFlag(name: string, value: unknown, min: number, max: number, dflt: number): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < min || n > max) {
    throw new GpuArbiterError('E_INVALID_ARGUMENT', `Expected an integer from ${min} to ${max} for --${name} but received ${JSON.stringify(value)}`, {
      field: `--${name}`,
    });
  }
  return n;
}

/** Runs the command; `onListening` (tests) gets the bound port. */
export async function runMetricsCommand(argv: string[], io: CliIo = defaultIo(), onListening?: (port: number) => void): Promise<number> {
  const flags = commandFlags(argv, { boolean: ['once'], string: ['port', 'bind', 'interval', 'nvml-lib', 'host-namespace'] }, HELP, io);
  if (typeof flags === 'number') return flags;
  const port = intFlag('port', flags.port, 0, 65535, 9464);
  const intervalMs = intFlag('interval', flags.interval, 10, 3_600_000, 1000);
  const bind = (flags.bind as string | undefined) ?? '0.0.0.0';
  const ns = flags['host-namespace'] as string | undefined;
  const libraryPath = flags['nvml-lib'] as string | undefined;
  const monitor = await GpuMonitor.create({ intervalMs, ...(libraryPath ? { libraryPath } : {}) });
  const collect = async () => hostFamilies(monitor.snapshot(), await readHostLedgers(ns === undefined ? undefined : [ns]));
  try {
    if (flags.once) {
      io.out.write(formatPrometheus(await collect()));
      return 0;
    }
    const metrics = promHandler(collect);
    const server = http.createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (url === '/metrics') return metrics(req, res);
      if (url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not found: metrics are at /metrics\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, bind, () => resolve());
    });
    const bound = (server.address() as { port: number }).port;
    io.err.write(`gpu-arbiter metrics: serving http://${bind}:${bound}/metrics\n`);
    onListening?.(bound);
    await untilStopped(io);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections?.();
    return 0;
  } finally {
    await monitor.stop();
  }
}
