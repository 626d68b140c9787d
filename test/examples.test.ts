// The README's examples run as written and print what the README says they print.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('examples/', () => {
  it('busy-policies.js shows WAIT, SKIP, FALLBACK_CPU and REJECT on a busy GPU', () => {
    const res = spawnSync(process.execPath, [path.resolve(__dirname, '../examples/busy-policies.js')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout.split('\n').filter(Boolean)).toEqual([
      'WAIT         -> E_TIMEOUT',
      'SKIP         -> skipped',
      'FALLBACK_CPU -> fell-back CPU text',
      'REJECT       -> E_BUSY',
      'free GPU     -> ran GPU text',
    ]);
  });

  it('otel.js prints the GPU spans inside the request span, and the metrics', () => {
    const res = spawnSync(process.execPath, [path.resolve(__dirname, '../examples/otel.js')], { encoding: 'utf8', timeout: 20_000 });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout.split('\n').filter(Boolean)).toEqual([
      'POST /transcribe > gpu.acquire [gpu.task=ASR gpu.outcome=acquired gpu.vram.requested_mib=2500]',
      'gpu.lease > asr inference',
      'POST /transcribe > gpu.lease [gpu.task=ASR gpu.vram.requested_mib=2500]',
      '(root) > POST /transcribe',
      'gpu_arbiter_hold_seconds{task="ASR"} count=1',
      'gpu_arbiter_acquire_total{task="ASR",outcome="acquired"} 1',
    ]);
  });
});
