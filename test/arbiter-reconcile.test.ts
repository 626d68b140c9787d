// Samples are applied one at a time and in order, even when the backend takes time to apply a
// capacity update (a remote ledger): what the arbiter's mutex is for.
import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { LocalBackend } from '../src/backends/local/backend';
import type { ResourceSpec } from '../src/backends/contract';
import { fakeGpus, flush, GiB, OUTSIDER } from './helpers/fake-monitor';

/** A LocalBackend whose capacity updates resolve only when the test says so. */
class SlowLedger extends LocalBackend {
  readonly pending: Array<() => void> = [];
  active = 0;
  maxActive = 0;
  slow = false;
  override setResource(resource: string, spec: ResourceSpec): void | Promise<void> {
    if (!this.slow) return super.setResource(resource, spec);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    return new Promise<void>((resolve) =>
      this.pending.push(() => {
        super.setResource(resource, spec);
        this.active--;
        resolve();
      }),
    );
  }
}

let arbiter: GpuArbiter | undefined;
afterEach(async () => {
  await arbiter?.close();
});

describe('applying samples', () => {
  it('never overlaps two updates and ends on the newest sample', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 2 * GiB }] });
    const ledger = new SlowLedger();
    arbiter = await GpuArbiter.create({
      monitor: gpu,
      backend: ledger,
      maxFraction: 1,
      policies: { T: { priority: 1, vramMiB: 1 } },
    });
    ledger.slow = true;
    gpu.setDevice(0, { processes: [{ pid: OUTSIDER, usedMiB: 10 * GiB }] });
    gpu.sample();
    gpu.setDevice(0, { processes: [{ pid: OUTSIDER, usedMiB: 4 * GiB }] });
    gpu.sample();
    await flush();
    expect(ledger.pending).toHaveLength(1); // the second waits for the first
    while (ledger.pending.length > 0) {
      ledger.pending.shift()!();
      await flush();
    }
    expect(ledger.maxActive).toBe(1);
    expect(ledger.usage('gpu:0')!.external).toBe(4 * GiB);
    ledger.slow = false;
  });

  it('applies nothing after close()', async () => {
    const gpu = fakeGpus({ totalMiB: 16 * GiB });
    const ledger = new SlowLedger();
    arbiter = await GpuArbiter.create({ monitor: gpu, backend: ledger, policies: { T: { priority: 1, vramMiB: 1 } } });
    await arbiter.close();
    ledger.slow = true;
    gpu.sample();
    await flush();
    expect(ledger.pending).toHaveLength(0);
    arbiter = undefined;
  });
});
