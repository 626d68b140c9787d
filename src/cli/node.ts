// `gpu-arbiter node`: the node agent of a cluster pool, for GPU hosts whose workers are not Node.
// A node-scope GpuArbiter on Redis that admits nothing itself: it registers the node's GPUs (from
// NVML) with a heartbeat, keeps each GPU's capacity and outside use current in Redis on every
// sample, and runs until Ctrl-C/SIGTERM (then unregisters; leases on the node stay theirs).
// Cluster-scope clients (GpuArbiter.create({ scope: 'cluster' })) are then placed on its GPUs.
import * as os from 'node:os';
import { GpuArbiter } from '../arbiter/gpu-arbiter';
import { GpuArbiterError } from '../errors';
import { commandFlags, defaultIo, type CliIo, untilStopped } from './args';
import { intFlag } from './metrics';

const HELP = `Usage: gpu-arbiter node --redis URL [--namespace NS] [--node-id ID] [--labels k=v,k=v]
                       [--address ADDR] [--ttl MS] [--interval MS] [--max-fraction F]
                       [--nvml-lib PATH]

Registers this host's GPUs in the cluster pool on Redis and keeps their capacity and outside use
current, so cluster-scope clients (scope: 'cluster') can be placed on them. Runs until Ctrl-C.
A node that stops heartbeating leaves the pool after --ttl; leases on it then end 'node-lost'.

  --redis URL         the pool's Redis (redis:// or rediss://)
  --namespace NS      the pool (default: default)
  --node-id ID        this node's id (default: the host name); its GPUs are <ID>/gpu<index>
  --labels k=v,...    labels cluster requests select by (e.g. zone=eu-1,tier=l4)
  --address ADDR      where callers reach this node, shown as lease.node.host (default: host name)
  --ttl MS            heartbeat TTL (default 15000; a heartbeat every TTL/3)
  --interval MS       NVML sampling interval (default 1000)
  --max-fraction F    share of each GPU's VRAM the pool may grant, (0, 1] (default 0.95)
  --nvml-lib PATH     NVML library to open (default: $GPU_ARBITER_NVML_LIB or libnvidia-ml.so.1)
`;

/** `k=v,k=v` as a label map; E_INVALID_ARGUMENT naming --labels for anything else. */
export function parseLabelsFlag(value: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (value === undefined) return labels;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) {
      throw new GpuArbiterError('E_INVALID_ARGUMENT', `Expected k=v pairs separated by commas for --labels but received ${JSON.stringify(value)}`, {
        field: '--labels',
      });
    }
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return labels;
}

export async function runNodeCommand(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const flags = commandFlags(argv, { string: ['redis', 'namespace', 'node-id', 'labels', 'address', 'ttl', 'interval', 'max-fraction', 'nvml-lib'] }, HELP, io);
  if (typeof flags === 'number') return flags;
  const redis = flags.redis as string | undefined;
  if (redis === undefined) throw new GpuArbiterError('E_INVALID_ARGUMENT', 'gpu-arbiter node needs --redis URL', { field: '--redis' });
  const namespace = (flags.namespace as string | undefined) ?? 'default';
  const nodeId = (flags['node-id'] as string | undefined) ?? os.hostname();
  const labels = parseLabelsFlag(flags.labels as string | undefined);
  const ttlMs = intFlag('ttl', flags.ttl, 100, 86_400_000, 15_000);
  const intervalMs = intFlag('interval', flags.interval, 10, 3_600_000, 1000);
  const fraction = flags['max-fraction'] === undefined ? 0.95 : Number(flags['max-fraction']);
  if (!(fraction > 0 && fraction <= 1)) {
    throw new GpuArbiterError('E_INVALID_ARGUMENT', `Expected a number in (0, 1] for --max-fraction but received ${JSON.stringify(flags['max-fraction'])}`, {
      field: '--max-fraction',
    });
  }
  const libraryPath = flags['nvml-lib'] as string | undefined;
  const address = flags.address as string | undefined;
  const arbiter = await GpuArbiter.create({
    backend: 'redis',
    redis,
    namespace,
    nodeId,
    registerNode: { ttlMs, labels, ...(address === undefined ? {} : { address }) },
    maxFraction: fraction,
    // The agent admits nothing: the policies only satisfy create(); clients bring their own.
    policies: { AGENT: { priority: 0, vramMiB: 1 } },
    monitorOptions: { intervalMs, ...(libraryPath === undefined ? {} : { libraryPath }) },
  });
  try {
    const gpus = arbiter.snapshot().devices.length;
    io.err.write(`gpu-arbiter node: node ${nodeId} in pool ${namespace}: ${gpus} GPU(s) registered, labels ${JSON.stringify(labels)}\n`);
    await untilStopped(io);
  } finally {
    await arbiter.close();
  }
  return 0;
}
