import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { fakeGpus, GiB } from './helpers/fake-monitor';

let arbiter: GpuArbiter | undefined;
afterEach(async () => {
  await arbiter?.close();
});

async function make(): Promise<GpuArbiter> {
  arbiter = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB, uuid: 'GPU-aaaa' }, { totalMiB: 8 * GiB, uuid: 'GPU-bbbb' }),
    policies: { ASR: { priority: 90, vramMiB: 12 * GiB } },
  });
  return arbiter;
}

describe('Lease', () => {
  it('carries device, env, declared VRAM and a fencing token; events acquired/released', async () => {
    const a = await make();
    const seen: string[] = [];
    a.on('acquired', (l) => seen.push(`acquired ${l.id}`));
    a.on('released', (l, heldMs, oom) => seen.push(`released ${l.id} oom=${oom} heldMs>=0:${heldMs >= 0}`));
    const lease = await a.acquire('ASR');
    expect(lease.device).toEqual({ index: 0, uuid: 'GPU-aaaa', name: 'Simulated GPU' });
    expect(lease.env).toEqual({ CUDA_VISIBLE_DEVICES: 'GPU-aaaa', CUDA_DEVICE_ORDER: 'PCI_BUS_ID' });
    expect(lease.vramMiB).toBe(12 * GiB);
    expect(lease.fencingToken).toBeGreaterThan(0);
    expect(lease.pid).toBe(process.pid);
    expect(JSON.parse(JSON.stringify(lease))).toMatchObject({ id: lease.id, task: 'ASR', released: false });
    await lease.release({ oom: true });
    expect(seen).toEqual([`acquired ${lease.id}`, `released ${lease.id} oom=true heldMs>=0:true`]);
  });

  it('release() is idempotent', async () => {
    const a = await make();
    const lease = await a.acquire('ASR');
    await lease.release();
    await lease.release();
    expect(lease.released).toBe(true);
    expect(a.snapshot().devices[0]!.declaredMiB).toBe(0);
    const again = await a.acquire('ASR');
    await again.release();
  });

  it('await using releases at the end of the scope', async () => {
    const a = await make();
    {
      await using lease = await a.acquire('ASR');
      expect(a.snapshot().holders).toHaveLength(1);
      expect(lease.released).toBe(false);
    }
    expect(a.snapshot().holders).toHaveLength(0);
  });
});
