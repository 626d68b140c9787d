// `npm run test:gpu`: the monitor against this host's real NVML. On a host without NVML every
// test is skipped, and the suite's title and the report say why (the cause and the fix).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuMonitor } from '../../src/gpu/monitor';
import { probeGpu, report, title } from './real-gpu';

const { skip } = await probeGpu();
const available = skip === null;
if (!available) console.log(`test:gpu: skipping the real-NVML checks: ${skip}`);

function nvidiaSmi(query: string): string[] | null {
  try {
    return execFileSync('nvidia-smi', [`--query-gpu=${query}`, '--format=csv,noheader,nounits'], { encoding: 'utf8' })
      .trim()
      .split('\n');
  } catch {
    return null; // nvidia-smi is optional; its cross-checks are skipped without it
  }
}

describe.skipIf(!available)(title('real NVML', skip), () => {
  let monitor: GpuMonitor;
  beforeAll(async () => {
    monitor = await GpuMonitor.create({ intervalMs: 100 });
  });
  afterAll(async () => {
    await monitor.stop();
  });

  it('reports the driver and at least one healthy device with plausible values', () => {
    const s = monitor.snapshot();
    expect(s.driverVersion).toMatch(/^\d+\.\d+/);
    expect(s.devices.length).toBeGreaterThan(0);
    for (const d of s.devices) {
      expect(d.error).toBeNull();
      expect(d.name).toBeTruthy();
      expect(d.uuid).toMatch(/^(GPU|MIG)-/);
      if (d.memory) {
        expect(d.memory.totalBytes).toBeGreaterThan(0);
        expect(d.memory.usedBytes).toBeLessThanOrEqual(d.memory.totalBytes);
      } else {
        expect(d.fieldErrors.memory).toBe('NVML_ERROR_NOT_SUPPORTED');
      }
      if (d.processes === null) expect(d.fieldErrors.processes).toBeTruthy();
      else for (const p of d.processes) expect(p.pid).toBeGreaterThan(0);
    }
    report(`NVML ${s.nvmlVersion} at ${s.libraryPath}: ${s.devices.length} GPU(s), sampled in ${s.durationMs.toFixed(2)} ms`);
  });

  it('takes fresh samples on request', async () => {
    const before = monitor.snapshot().seq;
    const s = await monitor.sampleNow();
    expect(s.seq).toBeGreaterThan(before);
  });

  it('agrees with nvidia-smi on names and total memory, where nvidia-smi exists', (ctx) => {
    const rows = nvidiaSmi('name,memory.total');
    if (!rows) ctx.skip('nvidia-smi is not installed on this host');
    const devices = monitor.devices();
    expect(rows!.length).toBe(devices.length);
    rows!.forEach((row, i) => {
      const [name, totalMiB] = row.split(',').map((x) => x.trim());
      expect(devices[i].name).toBe(name);
      if (devices[i].memory && /^\d+$/.test(totalMiB)) {
        expect(Math.round(devices[i].memory!.totalBytes / 2 ** 20)).toBe(Number(totalMiB));
      }
    });
  });
});
