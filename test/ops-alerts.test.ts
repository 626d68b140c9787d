// onAlert + criticalLog: every alert kind reaches the hook, the `alert` event and the JSON-lines log.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { LocalBackend } from '../src/backends/local/backend';
import type { Alert } from '../src/observe/alerts';
import { fakeGpus, GiB, sample, flush } from './helpers/fake-monitor';

const dirs: string[] = [];
afterEach(() => {
  vi.useRealTimers();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tmpFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-alerts-'));
  dirs.push(dir);
  return path.join(dir, 'critical.jsonl');
}

describe('alerts', () => {
  it('watchdog, lease-lost, overuse, gpu-lost and ownership-violation reach onAlert, the event and the log', async () => {
    vi.useFakeTimers();
    const file = tmpFile();
    const gpu = fakeGpus({ totalMiB: 16 * GiB }, { totalMiB: 16 * GiB });
    const backend = new LocalBackend();
    const hooked: Alert[] = [];
    const evented: Alert[] = [];
    const arbiter = await GpuArbiter.create({
      monitor: gpu,
      backend,
      criticalLog: file,
      onAlert: (a) => hooked.push(a),
      policies: { T: { priority: 50, vramMiB: 1 * GiB, holdMaxMs: 1000, revokeOnHoldMax: true, revokeGraceMs: 100 } },
    });
    arbiter.on('alert', (a: Alert) => evented.push(a));
    const lease = await arbiter.acquire('T', { pid: 777 });
    // overuse: the lease's pid uses 3 GiB of a declared 1 GiB
    gpu.setDevice(lease.device.index, { processes: [{ pid: 777, usedMiB: 3 * GiB }] });
    await sample(gpu);
    await vi.advanceTimersByTimeAsync(1100); // watchdog, then the revoke: lease-lost
    // ownership violation: a release of a token this backend never issued
    expect(backend.release('gpu:0', 'bogus')).toBe('not-owner');
    // GPU lost
    gpu.setDevice(1, { error: 'NVML_ERROR_GPU_IS_LOST' });
    await sample(gpu);
    await sample(gpu); // reported once, not every sample
    await lease.release();
    await arbiter.close();
    const kinds = hooked.map((a) => a.kind);
    expect(kinds).toEqual(['overuse', 'watchdog', 'lease-lost', 'gpu-lost', 'ownership-violation']);
    expect(evented).toEqual(hooked);
    expect(hooked[0]).toMatchObject({ task: 'T', device: lease.device.index, details: { pid: 777, usedMiB: 3 * GiB } });
    expect(hooked[2]).toMatchObject({ leaseId: lease.id, details: { reason: 'revoked' } });
    expect(hooked[3]).toMatchObject({ device: 1, message: expect.stringContaining('GPU 1') });
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.kind)).toEqual(kinds);
    expect(lines[0].time).toMatch(/^\d{4}-/);
  });

  it('a throwing hook and a full disk are reported, never thrown', async () => {
    vi.useFakeTimers();
    const warnings: unknown[] = [];
    const arbiter = await GpuArbiter.create({
      monitor: fakeGpus({ totalMiB: 16 * GiB }),
      criticalLog: '/dev/full',
      onAlert: () => {
        throw new Error('hook broke');
      },
      policies: { T: { priority: 50, vramMiB: 1 * GiB, holdMaxMs: 10 } },
    });
    arbiter.on('warning', (w) => warnings.push(w));
    const lease = await arbiter.acquire('T');
    await vi.advanceTimersByTimeAsync(20);
    await flush();
    expect(warnings).toEqual([expect.objectContaining({ message: 'hook broke' })]);
    await lease.release();
    await arbiter.close(); // flushes the log: the record is dropped and counted
    expect(arbiter.alertStats()).toMatchObject({ totals: { watchdog: 1 }, criticalLog: { written: 0, dropped: 1, lastError: 'ENOSPC' } });
  });

  it('rejects bad onAlert and criticalLog with a message naming the field', async () => {
    const monitor = fakeGpus({ totalMiB: 16 * GiB });
    const policies = { T: { priority: 50, vramMiB: 1 } };
    await expect(GpuArbiter.create({ monitor, policies, onAlert: 'x' as never })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('options.onAlert'),
    });
    await expect(GpuArbiter.create({ monitor, policies, criticalLog: '' })).rejects.toMatchObject({
      code: 'E_INVALID_ARGUMENT',
      message: expect.stringContaining('options.criticalLog'),
    });
  });
});
