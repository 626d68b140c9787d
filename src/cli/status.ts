import { GpuMonitor } from '../gpu/monitor';
import { diagnoseNvml } from '../gpu/diagnose';
import type { GpuDevice, GpuSnapshot } from '../gpu/types';
import { addonInfo } from '../native/addon';
import { hostNamespacePath } from '../backends/host/namespaces';
import { formatHostLedgers, hostLedgersToJson, readHostLedgers, type HostNamespaceStatus } from '../backends/host/status';
import { bar, bytes, cudaVersion, orUnknown } from './format';
import { commandFlags, defaultIo, type CliIo } from './args';
import { collectCluster, formatCluster } from '../backends/redis/cluster-view';

const HELP = `Usage: gpu-arbiter status [--json] [--nvml-lib PATH] [--host-namespace NS]
       gpu-arbiter status --redis URL [--namespace NS] [--json]

Shows what gpu-arbiter sees on this host: whether NVML could be loaded (and why not), driver
and NVML versions, and per GPU: name, UUID, VRAM, utilisation, temperature, power and the
compute processes with their VRAM. Then the host ledgers (/dev/shm/gpu-arbiter-*): per
resource its capacity and use, holders (pid, thread, units, priority, since) and waiters in
queue order; a GpuArbiter with backend 'host' uses namespace 'default' unless given
options.namespace, and its holders and waiters show their task and lease id, and GPUs are named
by UUID (gpu:GPU-...). Reading them changes nothing.

  --json               print the same as JSON
  --nvml-lib PATH      NVML library to open (default: $GPU_ARBITER_NVML_LIB or libnvidia-ml.so.1)
  --host-namespace NS  show only this host ledger namespace (e.g. default)
  --redis URL          show the cluster registered in Redis instead: live nodes, their GPUs and
                       each GPU's lease use (redis://host:port)
  --namespace NS       the arbiter namespace in Redis (default: default)
`;

export interface StatusReport {
  addon: { file: string; origin: string };
  nvml: GpuSnapshot;
  /** Host ledgers (issue 5), read without registering in them. */
  host: HostNamespaceStatus[];
}

/** Collects one fresh NVML sample and the host ledgers (all, or `hostNamespaces`). */
export async function collectStatus(libraryPath?: string, hostNamespaces?: string[]): Promise<StatusReport> {
  const monitor = new GpuMonitor(libraryPath ? { libraryPath } : {});
  let nvml: GpuSnapshot;
  try {
    await monitor.start();
    nvml = monitor.snapshot();
  } finally {
    await monitor.stop();
  }
  return { addon: addonInfo(), nvml, host: await readHostLedgers(hostNamespaces) };
}

function deviceLines(d: GpuDevice): string[] {
  const head = `GPU ${d.index}  ${d.name ?? 'unknown name'}  ${d.uuid ?? ''}`.trimEnd();
  if (d.error) return [head, `  ERROR ${d.error.nvmlReturn}: ${d.error.message}`];
  const lines = [head];
  if (d.memory) {
    const ratio = d.memory.totalBytes > 0 ? d.memory.usedBytes / d.memory.totalBytes : 0;
    // used counts the driver-reserved share (src/gpu/types.ts); say how much of it that is where NVML tells.
    const reserved = d.memory.reservedBytes === null ? '' : ` (${bytes(d.memory.reservedBytes)} reserved by the driver)`;
    lines.push(`  VRAM   ${bar(ratio)} ${bytes(d.memory.usedBytes)} / ${bytes(d.memory.totalBytes)} used${reserved}, ${bytes(d.memory.freeBytes)} free`);
  } else {
    lines.push(`  VRAM   unknown (${d.fieldErrors.memory ?? 'not reported'})`);
  }
  const util = d.utilization
    ? `gpu ${d.utilization.gpuPercent}%, memory bus ${d.utilization.memoryPercent}%`
    : `unknown (${d.fieldErrors.utilization ?? 'not reported'})`;
  lines.push(`  util   ${util}`);
  const power = d.powerW === null ? 'unknown' : `${orUnknown(d.powerW, ' W')} of ${orUnknown(d.powerLimitW, ' W')}`;
  lines.push(`  temp   ${orUnknown(d.temperatureC, ' C')}   power ${power}`);
  const modes = [
    `persistence ${d.persistenceMode === null ? 'unknown' : d.persistenceMode ? 'on' : 'off'}`,
    `MIG ${d.migMode === null ? 'unknown' : d.migMode ? 'on' : 'off'}`,
  ];
  lines.push(`  modes  ${modes.join(', ')}`);
  if (d.processes === null) {
    lines.push(`  processes: unknown (${d.fieldErrors.processes ?? 'not reported'})`);
  } else if (d.processes.length === 0) {
    lines.push('  processes: none');
  } else {
    lines.push('  processes:');
    for (const p of d.processes) lines.push(`    pid ${String(p.pid).padEnd(8)} ${bytes(p.usedBytes)}`);
  }
  return lines;
}

/** Human-readable status text. */
export function formatStatus(report: StatusReport): string {
  const s = report.nvml;
  const out = [`addon: ${report.addon.file} (${report.addon.origin})`];
  const problem = diagnoseNvml(s);
  if (problem !== null) {
    out.push(`NVML: not available - ${s.unavailableReason ?? 'unknown reason'}`);
    out.push(`  library: ${s.libraryPath ?? 'none opened'}`);
    out.push(`  cause:   ${problem.cause}`);
    out.push(`  fix:     ${problem.fix}`);
    out.push('GPUs: none visible (admission can still run on declared capacities)');
    out.push(formatHostLedgers(report.host).trimEnd());
    return out.join('\n');
  }
  out.push(`NVML: available (${s.libraryPath ?? 'unknown path'})`);
  out.push(`driver ${s.driverVersion ?? 'unknown'}, NVML ${s.nvmlVersion ?? 'unknown'}, CUDA ${cudaVersion(s.cudaDriverVersion)}`);
  out.push(`GPUs: ${s.devices.length}`);
  for (const d of s.devices) out.push(...deviceLines(d));
  out.push(formatHostLedgers(report.host).trimEnd());
  return out.join('\n');
}

export async function runStatus(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const flags = commandFlags(argv, { boolean: ['json'], string: ['nvml-lib', 'host-namespace', 'redis', 'namespace'] }, HELP, io);
  if (typeof flags === 'number') return flags;
  if (flags.redis !== undefined) {
    const view = await collectCluster(flags.redis as string, { namespace: (flags.namespace as string | undefined) ?? 'default' });
    io.out.write(flags.json ? `${JSON.stringify(view, null, 2)}\n` : `${formatCluster(view)}\n`);
    return 0;
  }
  const hostNs = flags['host-namespace'] as string | undefined;
  if (hostNs !== undefined) hostNamespacePath(hostNs); // refuses a malformed name (exit 2)
  const report = await collectStatus(flags['nvml-lib'] as string | undefined, hostNs === undefined ? undefined : [hostNs]);
  const json = { ...report, nvmlProblem: diagnoseNvml(report.nvml), host: hostLedgersToJson(report.host) };
  io.out.write(flags.json ? `${JSON.stringify(json, null, 2)}\n` : `${formatStatus(report)}\n`);
  return 0;
}
