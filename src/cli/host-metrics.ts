// The host's view as metric families, for `gpu-arbiter metrics`: NVML's GPU gauges and every host
// ledger (/dev/shm/gpu-arbiter-*) with its capacity, use, holders and waiters per resource.
import { gpuFamilies } from '../metrics/gpu-families';
import type { HostNamespaceStatus } from '../backends/host/status';
import type { CounterFamily, MetricFamily } from '../metrics/counters';
import type { GpuSnapshot } from '../gpu/types';

export function hostFamilies(gpu: GpuSnapshot, ledgers: readonly HostNamespaceStatus[]): MetricFamily[] {
  const gauge = (name: string, help: string): CounterFamily => ({ name, help, type: 'gauge', samples: [] });
  const nvml = gauge('gpu_arbiter_nvml_available', '1 when NVML could be read on this host, else 0');
  nvml.samples.push({ labels: {}, value: gpu.available ? 1 : 0 });
  const capacity = gauge('gpu_arbiter_host_capacity_mib', 'Capacity of a host-ledger resource (MiB)');
  const used = gauge('gpu_arbiter_host_used_mib', 'MiB granted to holders on a host-ledger resource');
  const external = gauge('gpu_arbiter_host_external_mib', 'MiB used outside the ledger on a host-ledger resource');
  const holders = gauge('gpu_arbiter_host_holders', 'Holders of a host-ledger resource');
  const waiting = gauge('gpu_arbiter_host_waiters', 'Waiters queued on a host-ledger resource');
  const closed = gauge('gpu_arbiter_host_resource_closed', '1 while a host-ledger resource takes no grants');
  const violations: CounterFamily = {
    name: 'gpu_arbiter_host_ownership_violations_total',
    help: 'Refused releases (wrong or stale token) in a host ledger',
    type: 'counter',
    samples: [],
  };
  const readable = gauge('gpu_arbiter_host_ledger_readable', '1 when a host ledger could be read, else 0');
  for (const entry of ledgers) {
    if ('error' in entry) {
      readable.samples.push({ labels: { namespace: entry.namespace }, value: 0 });
      continue;
    }
    const s = entry.status;
    readable.samples.push({ labels: { namespace: s.namespace }, value: 1 });
    violations.samples.push({ labels: { namespace: s.namespace }, value: s.ownershipViolations });
    for (const r of s.resources) {
      const labels = { namespace: s.namespace, resource: r.name };
      capacity.samples.push({ labels, value: r.capacity });
      used.samples.push({ labels, value: r.used });
      external.samples.push({ labels, value: r.external });
      holders.samples.push({ labels, value: s.holders.filter((h) => h.resource === r.name).length });
      waiting.samples.push({ labels, value: r.waiting });
      closed.samples.push({ labels, value: r.closed ? 1 : 0 });
    }
  }
  return [nvml, ...gpuFamilies(gpu, null), readable, capacity, used, external, holders, waiting, closed, violations];
}
