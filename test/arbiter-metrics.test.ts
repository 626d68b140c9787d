import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { registerMetrics } from '../src/metrics/prom-client';
import { fakeGpus, GiB, OUTSIDER } from './helpers/fake-monitor';

let arbiter: GpuArbiter;
afterEach(async () => {
  await arbiter.close();
});

async function make(): Promise<GpuArbiter> {
  arbiter = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB, gpuPercent: 40, processes: [{ pid: OUTSIDER, usedMiB: 2 * GiB }] }),
    maxFraction: 1,
    policies: {
      ASR: { priority: 90, vramMiB: 8 * GiB },
      REPAIR: { priority: 20, vramMiB: 8 * GiB, busyPolicy: 'SKIP' },
    },
  });
  return arbiter;
}

const NAMES = [
  'gpu_arbiter_acquire_total',
  'gpu_arbiter_queue_wait_seconds',
  'gpu_arbiter_hold_seconds',
  'gpu_arbiter_queue_length',
  'gpu_arbiter_watchdog_exceeded_total',
  'gpu_arbiter_release_failures_total',
  'gpu_arbiter_ownership_violations_total',
  'gpu_arbiter_lease_lost_total',
  'gpu_memory_used_bytes',
  'gpu_memory_total_bytes',
  'gpu_utilization_ratio',
];

describe('metrics', () => {
  it('uses the names docs/design.md fixes and counts outcomes per task', async () => {
    const a = await make();
    const lease = await a.acquire('ASR');
    expect(await a.run('REPAIR', () => 1)).toMatchObject({ status: 'skipped' });
    await lease.release();
    const families = a.metrics();
    expect(families.map((f) => f.name).sort()).toEqual([...NAMES].sort());
    const acquire = families.find((f) => f.name === 'gpu_arbiter_acquire_total')!;
    expect(acquire.samples).toEqual(
      expect.arrayContaining([
        { labels: { task: 'ASR', outcome: 'acquired' }, value: 1 },
        { labels: { task: 'REPAIR', outcome: 'skipped' }, value: 1 },
      ]),
    );
    const hold = families.find((f) => f.name === 'gpu_arbiter_hold_seconds')!;
    expect(hold.type).toBe('histogram');
    expect(hold.samples[0]).toMatchObject({ labels: { task: 'ASR' }, count: 1 });
    expect(families.find((f) => f.name === 'gpu_utilization_ratio')!.samples).toEqual([{ labels: { gpu: '0' }, value: 0.4 }]);
  });

  it('snapshot() is plain data: queues, holders, devices and counters survive a JSON round trip', async () => {
    const a = await make();
    const lease = await a.acquire('ASR');
    const waiter = a.acquire('ASR');
    const snap = a.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    expect(snap.devices[0]).toMatchObject({
      index: 0,
      totalMiB: 16 * GiB,
      declaredMiB: 8 * GiB,
      unaccountedMiB: 2 * GiB,
      budgetMiB: 6 * GiB,
    });
    expect(snap.holders).toEqual([expect.objectContaining({ task: 'ASR', vramMiB: 8 * GiB, own: true, device: 0 })]);
    expect(snap.queues[0]!.waiters).toEqual([expect.objectContaining({ task: 'ASR', position: 0, priority: 90, vramMiB: 8 * GiB })]);
    expect(snap.counters.tasks.ASR).toMatchObject({ acquired: 1 });
    await lease.release();
    await (await waiter).release();
  });

  it('registerMetrics fills a real prom-client registry', async () => {
    const a = await make();
    const registry = new Registry();
    const unregister = registerMetrics(a, registry);
    const lease = await a.acquire('ASR');
    await lease.release();
    const text = await registry.metrics();
    for (const name of NAMES) expect(text).toContain(`# TYPE ${name}`);
    expect(text).toContain('gpu_arbiter_acquire_total{task="ASR",outcome="acquired"} 1');
    expect(text).toMatch(/gpu_arbiter_hold_seconds_bucket\{task="ASR",le="\+Inf"\} 1/);
    expect(text).toContain('gpu_arbiter_hold_seconds_count{task="ASR"} 1');
    expect(text).toContain(`gpu_memory_total_bytes{gpu="0"} ${16 * GiB * 1024 * 1024}`);
    const json = await registry.getMetricsAsJSON();
    expect(json.map((m) => m.name)).toEqual(expect.arrayContaining(NAMES));
    unregister();
    expect(await registry.metrics()).not.toContain('gpu_arbiter_acquire_total');
  });

  it('arbiter.registerMetrics(registry) does the same', async () => {
    const a = await make();
    const registry = new Registry();
    a.registerMetrics(registry);
    await (await a.acquire('ASR')).release();
    expect(await registry.metrics()).toContain('gpu_arbiter_acquire_total{task="ASR",outcome="acquired"} 1');
  });
});
