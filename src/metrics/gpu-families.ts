// The per-GPU gauges of the metrics: NVML's figures of each managed GPU as metric families.
import type { GpuSnapshot } from '../gpu/types';
import type { CounterFamily } from './counters';

/** gpu_memory_used_bytes, gpu_memory_total_bytes, gpu_utilization_ratio per managed GPU. */
export function gpuFamilies(s: GpuSnapshot, wanted: readonly number[] | null): CounterFamily[] {
  const used: CounterFamily = {
    name: 'gpu_memory_used_bytes',
    help: 'VRAM in use as NVML reports it',
    type: 'gauge',
    samples: [],
  };
  const total: CounterFamily = { name: 'gpu_memory_total_bytes', help: 'VRAM of the GPU', type: 'gauge', samples: [] };
  const util: CounterFamily = {
    name: 'gpu_utilization_ratio',
    help: 'Share of time a kernel ran (0-1)',
    type: 'gauge',
    samples: [],
  };
  for (const d of s.available ? s.devices : []) {
    if (wanted !== null && !wanted.includes(d.index)) continue;
    const labels = { gpu: String(d.index) };
    // Unknown values are left out, never reported as 0 (docs/design.md, "Testing without a GPU": unknown is never 0).
    if (d.memory !== null) {
      used.samples.push({ labels, value: d.memory.usedBytes });
      total.samples.push({ labels, value: d.memory.totalBytes });
    }
    if (d.utilization !== null) util.samples.push({ labels, value: d.utilization.gpuPercent / 100 });
  }
  return [used, total, util];
}
