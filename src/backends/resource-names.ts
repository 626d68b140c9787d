// GPU resource names in a ledger. One home for the naming, so every backend and every reader of
// a ledger (status, doctor) agrees on what `gpu:0` or `gpu:GPU-...` means.
import type { GpuIdentity } from './contract';

/** The name of a GPU in a ledger private to this process (local backend): `gpu:<index>`. */
export function gpuResource(index: number): string {
  return `gpu:${index}`;
}

/**
 * The resource name of a GPU in a ledger shared by processes (host backend): by UUID, so every
 * process agrees on it whatever its NVML numbering (a container that sees a subset of the GPUs
 * numbers them from 0); by index where the UUID is unknown or does not fit a ledger name.
 */
export function sharedGpuResource(gpu: GpuIdentity): string {
  if (gpu.uuid !== null && /^[\x21-\x7e]{1,59}$/.test(gpu.uuid)) return `gpu:${gpu.uuid}`;
  return gpuResource(gpu.index);
}

/** The name of a GPU of node `nodeId` in a ledger that spans nodes (Redis): `<nodeId>/gpu<index>`. */
export function nodeGpuResource(nodeId: string, index: number): string {
  return `${nodeId}/gpu${index}`;
}
