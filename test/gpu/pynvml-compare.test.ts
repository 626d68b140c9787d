// The monitor's figures against pynvml's (nvidia-ml-py, an independent binding of the same
// library) for every device: names, UUIDs, totals and driver versions must agree exactly; used
// memory within what can change between the two reads.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GpuMonitor } from '../../src/gpu/monitor';
import { firstReason, MiB, probeGpu, PY, pynvmlMissing, report, title } from './real-gpu';

const { skip: noGpu } = await probeGpu();
const skip = firstReason(noGpu, pynvmlMissing);

interface PyDevice {
  index: number;
  name: string;
  uuid: string;
  total: number;
  used: number;
  powerLimitMw: number | null;
}

describe.skipIf(skip !== null)(title('monitor vs pynvml', skip), () => {
  it('agrees on every device', async () => {
    const m = await GpuMonitor.create({ intervalMs: 1000 });
    try {
      const ours = await m.sampleNow();
      const res = spawnSync('python3', [path.join(PY, 'nvml_dump.py')], { encoding: 'utf8', timeout: 60_000 });
      expect(res.status, res.stderr).toBe(0);
      const theirs = JSON.parse(res.stdout) as { driverVersion: string; cudaDriverVersion: number; devices: PyDevice[] };
      expect(ours.driverVersion).toBe(theirs.driverVersion);
      expect(ours.cudaDriverVersion).toBe(theirs.cudaDriverVersion);
      expect(ours.devices.length).toBe(theirs.devices.length);
      for (const p of theirs.devices) {
        const d = ours.devices[p.index];
        expect(d.error).toBeNull();
        expect(d.name).toBe(p.name);
        expect(d.uuid).toBe(p.uuid);
        expect(d.memory?.totalBytes).toBe(p.total);
        // Both count the driver-reserved share in used (pynvml reads v1); other processes may
        // allocate between the two reads, so allow 256 MiB.
        expect(Math.abs((d.memory?.usedBytes ?? 0) - p.used)).toBeLessThanOrEqual(256 * MiB);
        if (p.powerLimitMw !== null) expect(d.powerLimitW).toBeCloseTo(p.powerLimitMw / 1000, 3);
        report(
          `GPU ${d.index} ${d.name}: total ${Math.round(p.total / MiB)} MiB, used ${Math.round((d.memory?.usedBytes ?? 0) / MiB)} MiB ` +
            `(pynvml ${Math.round(p.used / MiB)}), reserved ${d.memory?.reservedBytes == null ? '?' : Math.round(d.memory.reservedBytes / MiB)} MiB, ` +
            `${d.temperatureC ?? '?'} C, ${d.powerW ?? '?'} W of ${d.powerLimitW ?? '?'} W`,
        );
      }
      report(`driver ${ours.driverVersion}, CUDA ${ours.cudaDriverVersion}, entry points ${JSON.stringify(ours.api)}`);
    } finally {
      await m.stop();
    }
  }, 90_000);
});
