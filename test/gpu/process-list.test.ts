// A child Python process that allocates 4 GiB with torch is seen in the monitor's process list
// with about that much (plus its CUDA context), and is gone once it exits.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { describe, expect, it } from 'vitest';
import { GpuMonitor } from '../../src/gpu/monitor';
import { firstReason, MiB, probeGpu, PY, report, title, torchMissing } from './real-gpu';

const { skip: noGpu } = await probeGpu();
const skip = firstReason(noGpu, torchMissing);
const GiB = 1024 * MiB;

describe.skipIf(skip !== null)(title('process list with real VRAM', skip), () => {
  it('sees a 4 GiB torch process with about 4 GiB', async () => {
    const m = await GpuMonitor.create({ intervalMs: 200 });
    const child = spawn('python3', [path.join(PY, 'hold_vram.py'), '4096', '0'], {
      env: { ...process.env, CUDA_VISIBLE_DEVICES: m.devices()[0].uuid ?? '0' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    try {
      const lines = readline.createInterface({ input: child.stdout! });
      const first = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`hold_vram.py exited ${code} before holding`)));
      });
      expect(JSON.parse(first)).toMatchObject({ event: 'holding', pid: child.pid });
      const s = await m.sampleNow();
      const seen = s.devices[0].processes?.find((p) => p.pid === child.pid);
      expect(seen, `pid ${child.pid} in ${JSON.stringify(s.devices[0].processes)} (${s.api.processes})`).toBeDefined();
      // 4 GiB of tensor plus a CUDA context (a few hundred MiB) and the caching allocator's rounding.
      expect(seen!.usedBytes).toBeGreaterThanOrEqual(4 * GiB);
      expect(seen!.usedBytes).toBeLessThanOrEqual(4 * GiB + 1536 * MiB);
      report(`torch child holding 4096 MiB seen with ${Math.round(seen!.usedBytes! / MiB)} MiB via ${s.api.processes}`);
      child.stdin!.end();
      await new Promise((r) => child.once('exit', r));
      const after = await m.sampleNow();
      expect(after.devices[0].processes?.some((p) => p.pid === child.pid)).toBe(false);
    } finally {
      child.kill('SIGKILL');
      await m.stop();
    }
  }, 120_000);
});
