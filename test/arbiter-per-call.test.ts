// Requests sized by the job (issue 14, part 1): per-call vramMiB, priority and label override the
// task's policy for that request only, on the local and host backends (the Redis backend gets
// units and priority per request through the same AcquireRequest: test/arbiter-redis.test.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import type { GpuArbiterOptions } from '../src/arbiter/options';
import type { Alert } from '../src/observe/alerts';
import { closeAfterEach } from './helpers/close-after-each';
import { fakeGpus, GiB, flush, state } from './helpers/fake-monitor';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';

const arbiters = closeAfterEach<GpuArbiter>();
afterAll(() => removeTestNamespaces());

async function make(options: Partial<GpuArbiterOptions> = {}): Promise<GpuArbiter> {
  const a = await GpuArbiter.create({
    monitor: fakeGpus({ totalMiB: 16 * GiB }),
    maxFraction: 1,
    policies: {
      JOB: { priority: 50, vramMiB: 1 * GiB },
      LOW: { priority: 10, vramMiB: 1 * GiB },
      AUTO: { priority: 50, vramMiB: 'auto', vramDefaultMiB: 2 * GiB },
    },
    ...options,
  });
  arbiters.push(a);
  return a;
}

describe.each([
  ['local', {}],
  ['host', { backend: 'host' as const }],
])('per-call sizing on the %s backend', (_name, backendOptions) => {
  const opts = (): Partial<GpuArbiterOptions> => ('backend' in backendOptions ? { ...backendOptions, namespace: uniqueNamespace('per-call') } : backendOptions);

  it('vramMiB per call wins over the task policy for that request only', async () => {
    const a = await make(opts());
    const big = await a.acquire('JOB', { vramMiB: 8192 });
    expect(big.vramMiB).toBe(8192);
    expect(a.snapshot().devices[0]).toMatchObject({ declaredMiB: 8192 });
    const plain = await a.acquire('JOB');
    expect(plain.vramMiB).toBe(1 * GiB);
    expect(a.snapshot().devices[0]).toMatchObject({ declaredMiB: 8192 + 1 * GiB });
    await big.release();
    await plain.release();
  });

  it('a per-call size no GPU could ever hold fails at once with E_DOES_NOT_FIT', async () => {
    const a = await make(opts());
    await expect(a.acquire('JOB', { vramMiB: 17 * GiB })).rejects.toMatchObject({
      code: 'E_DOES_NOT_FIT',
      details: { vramMiB: 17 * GiB, largestCapacityMiB: 16 * GiB },
    });
    // run() takes the same options.
    await expect(a.run('JOB', () => 'ran', { vramMiB: 17 * GiB })).rejects.toMatchObject({ code: 'E_DOES_NOT_FIT' });
    expect((await a.run('JOB', (l) => l.vramMiB, { vramMiB: 3000 })).status).toBe('ran');
  });

  it('priority per call: a later request raised to 90 is served before an earlier one at the policy default', async () => {
    const a = await make(opts());
    const all = await a.acquire('JOB', { vramMiB: 16 * GiB });
    const order: string[] = [];
    // Each asks for the whole GPU, so they are served one after the other, in priority order.
    const early = a.acquire('JOB', { vramMiB: 16 * GiB }).then((l) => {
      order.push('early JOB (50)');
      return l;
    });
    await flush();
    const late = a.acquire('LOW', { vramMiB: 16 * GiB, priority: 90 }).then((l) => {
      order.push('late LOW (90)');
      return l;
    });
    await flush();
    await all.release();
    const first = await late;
    expect(first.task).toBe('LOW');
    expect(await state(early)).toBe('pending');
    await first.release();
    await (await early).release();
    expect(order).toEqual(['late LOW (90)', 'early JOB (50)']);
  });
});

describe('per-call options: validation, auto VRAM, labels', () => {
  it('bad values are refused with E_INVALID_ARGUMENT naming the field', async () => {
    const a = await make();
    await expect(a.acquire('JOB', { vramMiB: 0 })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('for options.vramMiB but received 0'),
    });
    await expect(a.acquire('JOB', { vramMiB: '8G' as unknown as number })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(a.acquire('JOB', { priority: 1001 })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('for options.priority but received 1001'),
    });
    await expect(a.acquire('JOB', { label: '' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(a.acquire('JOB', { label: 'x'.repeat(129) })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(a.acquire('JOB', { label: 'tab\there' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(a.acquire('JOB', { label: { job: 'has space' } })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('options.label.job'),
    });
    await expect(a.acquire('JOB', { label: { owner: 'x' } as never })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    expect(a.snapshot().holders).toEqual([]);
  });

  it("with vramMiB 'auto', a per-call value wins over the estimate", async () => {
    const a = await make();
    const est = await a.acquire('AUTO');
    expect(est.vramMiB).toBe(2 * GiB);
    await est.release();
    const sized = await a.acquire('AUTO', { vramMiB: 6000 });
    expect(sized.vramMiB).toBe(6000);
    await sized.release();
  });

  it('the label travels with the hold: lease, snapshot holders and waiters, watch text and alerts', async () => {
    const alerts: Alert[] = [];
    const a = await make({
      policies: { JOB: { priority: 50, vramMiB: 16 * GiB, holdMaxMs: 20 } },
      onAlert: (x) => alerts.push(x),
    });
    const held = await a.acquire('JOB', { label: { job: 'video-42', session: 's1', stage: 'ocr' } });
    expect(held.label).toBe('job=video-42 session=s1 stage=ocr');
    expect(held.toJSON().label).toBe('job=video-42 session=s1 stage=ocr');
    const waiting = a.acquire('JOB', { label: 'nightly batch 7' });
    await flush();
    const snap = a.snapshot();
    expect(snap.holders.map((h) => h.label)).toEqual(['job=video-42 session=s1 stage=ocr']);
    expect(snap.queues[0]!.waiters.map((w) => w.label)).toEqual(['nightly batch 7']);
    const { renderSnapshot } = await import('../src/cli/render');
    const text = renderSnapshot(snap);
    expect(text).toContain('job=video-42 session=s1 stage=ocr');
    expect(text).toContain('nightly batch 7');
    // The watchdog alert names the job.
    if (!alerts.some((x) => x.kind === 'watchdog')) await new Promise((r) => a.once('watchdog', r));
    expect(alerts.find((x) => x.kind === 'watchdog')).toMatchObject({ label: 'job=video-42 session=s1 stage=ocr' });
    await held.release();
    const next = await waiting;
    expect(next.label).toBe('nightly batch 7');
    await next.release();
    const none = await a.acquire('JOB');
    expect(none.label).toBeNull();
    await none.release();
  });
});
