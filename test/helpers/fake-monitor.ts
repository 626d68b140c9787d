// A GPU view for arbiter tests: SimulatedGpu (src/sim-gpu.ts) plus helpers. Sizes are in MiB.
import { SimulatedGpu, type SimulatedDeviceSpec } from '../../src/gpu/simulated';

export const GiB = 1024;
/** A pid that holds no grant: an "outside process". */
export const OUTSIDER = 4242;

export function fakeGpus(...devices: SimulatedDeviceSpec[]): SimulatedGpu {
  return new SimulatedGpu(devices);
}

/** Lets promise chains (the arbiter's sample handler runs under a mutex) settle; no timers involved. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Publishes the GPU's current state and waits until the arbiter has applied it. */
export async function sample(gpu: SimulatedGpu): Promise<void> {
  gpu.sample();
  await flush();
}

/** Resolves to 'pending' if `p` has not settled after a flush, else to its outcome. */
export async function state<T>(p: Promise<T>): Promise<'pending' | 'resolved' | 'rejected'> {
  let s: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(
    () => (s = 'resolved'),
    () => (s = 'rejected'),
  );
  await flush();
  return s;
}
