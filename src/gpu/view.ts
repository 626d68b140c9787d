// What the arbiter needs from a GPU monitor, and no more: the cached snapshot and the 'sample'
// event. GpuMonitor (src/monitor.ts) satisfies it; so does SimulatedGpu (src/sim-gpu.ts), which
// tests, the demo and the bench use on machines without a GPU.
import type { GpuSnapshot } from './types';

/** A source of GPU snapshots. */
export interface GpuView {
  /** The newest sample; synchronous and cheap (cached). */
  snapshot(): GpuSnapshot;
  /** Called after every finished sample. */
  on(event: 'sample', listener: (snapshot: GpuSnapshot) => void): unknown;
  off(event: 'sample', listener: (snapshot: GpuSnapshot) => void): unknown;
}
