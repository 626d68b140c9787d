// A real CUDA out-of-memory error, reported with release({ oom: true }), cools the GPU down: no
// new grant until oomCooldownMs has passed, then grants again.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GpuArbiter } from '../../src/arbiter/gpu-arbiter';
import { GpuMonitor } from '../../src/gpu/monitor';
import { afterSamples } from '../helpers/wait';
import { firstReason, probeGpu, PY, report, title, torchMissing } from './real-gpu';

const { skip: noGpu } = await probeGpu();
const skip = firstReason(noGpu, torchMissing);

describe.skipIf(skip !== null)(title('OOM cool-down on a real GPU', skip), () => {
  it('a torch OOM reported at release closes the GPU for oomCooldownMs', async () => {
    const monitor = await GpuMonitor.create({ intervalMs: 200 });
    const arbiter = await GpuArbiter.create({
      monitor,
      devices: [0],
      oomCooldownMs: 3000,
      policies: { TRAIN: { priority: 50, vramMiB: 1024 }, PROBE: { priority: 50, vramMiB: 1024, busyPolicy: 'SKIP', maxWaitMs: 100 } },
    });
    try {
      const cooldowns: Array<{ until: number }> = [];
      arbiter.on('cooldown', (e) => cooldowns.push(e));
      const lease = await arbiter.acquire('TRAIN');
      const res = spawnSync('python3', [path.join(PY, 'oom.py')], { env: { ...process.env, ...lease.env }, encoding: 'utf8', timeout: 120_000 });
      expect(res.status, res.stderr).toBe(3); // a real torch.cuda.OutOfMemoryError
      await lease.release({ oom: true });
      expect(cooldowns).toHaveLength(1);
      expect((await arbiter.run('PROBE', () => 'ran')).status).toBe('skipped');
      await afterSamples(monitor, () => arbiter.snapshot().devices[0]?.usable === true, 'the GPU to reopen after the cool-down', 10_000);
      expect(Date.now()).toBeGreaterThanOrEqual(cooldowns[0].until);
      expect((await arbiter.run('PROBE', () => 'ran')).status).toBe('ran');
      report(`OOM: ${res.stdout.trim()} -> GPU 0 cooled for 3000 ms, then granted again`);
    } finally {
      await arbiter.close();
      await monitor.stop();
    }
  }, 180_000);
});
