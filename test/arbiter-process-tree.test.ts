// A holder's child processes spend the holder's VRAM (src/arbiter/process-tree.ts): a GPU program
// started by the process named in the lease (a shell's ffmpeg, a server's workers, what
// `gpu-arbiter exec` runs) is not counted as outside use on top of the holder's declared VRAM.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { attributeToHolders } from '../src/arbiter/process-tree';
import type { GpuDevice } from '../src/gpu/types';
import { closeAfterEach } from './helpers/close-after-each';
import { fakeGpus, GiB, OUTSIDER, sample } from './helpers/fake-monitor';

const arbiters = closeAfterEach<GpuArbiter>();
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** A shell (the holder) whose child `sleep` (the GPU program) is what NVML would list. */
async function shellWithChild(): Promise<{ shell: number; program: number }> {
  const sh = spawn('/bin/sh', ['-c', 'sleep 30 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(sh);
  const line = await new Promise<string>((resolve) => sh.stdout!.once('data', (d) => resolve(String(d))));
  return { shell: sh.pid!, program: Number(line.trim()) };
}

describe("VRAM of a holder's descendants", () => {
  it("is the holder's: no outside use, no overuse, and the budget counts it once", async () => {
    const { shell, program } = await shellWithChild();
    expect(fs.readFileSync(`/proc/${program}/stat`, 'latin1')).toContain(` ${shell} `); // the tree is real
    const gpu = fakeGpus({ totalMiB: 16 * GiB, processes: [{ pid: OUTSIDER, usedMiB: 2 * GiB }] });
    const a = await GpuArbiter.create({ monitor: gpu, maxFraction: 1, policies: { OCR: { priority: 50, vramMiB: 6 * GiB } } });
    arbiters.push(a);
    const overuse: unknown[] = [];
    a.on('overuse', (e) => overuse.push(e));
    const lease = await a.acquire('OCR', { pid: shell });
    gpu.setDevice(0, {
      processes: [
        { pid: OUTSIDER, usedMiB: 2 * GiB },
        { pid: program, usedMiB: 5 * GiB },
      ],
    });
    await sample(gpu);
    // Without attribution: outside 2 + 5 GiB, declared 6 GiB -> budget 3 GiB.
    expect(a.snapshot().devices[0]).toMatchObject({ declaredMiB: 6 * GiB, unaccountedMiB: 2 * GiB, budgetMiB: 8 * GiB });
    // The program using more than the lease declared is the holder's overuse.
    gpu.setDevice(0, {
      processes: [
        { pid: OUTSIDER, usedMiB: 2 * GiB },
        { pid: program, usedMiB: 7 * GiB },
      ],
    });
    await sample(gpu);
    expect(overuse).toEqual([expect.objectContaining({ pid: shell, declaredMiB: 6 * GiB, usedMiB: 7 * GiB })]);
    await lease.release();
  });

  it('merges several descendants and leaves unrelated processes alone', async () => {
    const { shell, program } = await shellWithChild();
    const base: GpuDevice = {
      index: 0,
      name: null,
      uuid: null,
      memory: null,
      utilization: null,
      temperatureC: null,
      powerW: null,
      powerLimitW: null,
      persistenceMode: null,
      migMode: null,
      error: null,
      fieldErrors: {},
      processes: [
        { pid: shell, usedBytes: 100 },
        { pid: program, usedBytes: 50 },
        { pid: process.pid, usedBytes: 7 },
      ],
    };
    const out = attributeToHolders(base, new Set([shell]));
    expect(out.processes).toEqual([
      { pid: shell, usedBytes: 150 },
      { pid: process.pid, usedBytes: 7 },
    ]);
    // Nothing to attribute: the same object back (no allocation per sample).
    const plain = { ...base, processes: [{ pid: process.pid, usedBytes: 7 }] };
    expect(attributeToHolders(plain, new Set([shell]))).toBe(plain);
    // A pid /proc does not know is left as it is.
    const gone = { ...base, processes: [{ pid: 2 ** 22 + 12345, usedBytes: 1 }] };
    expect(attributeToHolders(gone, new Set([shell]))).toBe(gone);
  });
});
