// Two processes on the host backend, each asking 60% of the card through `gpu-arbiter exec`,
// each running a torch script that really allocates half the card: one is admitted, the other
// waits until the first exits. And exec runs the script on the granted GPU only.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, firstReason, probeGpu, PY, report, ROOT, title, torchMissing } from './real-gpu';

const { snapshot, skip: noGpu } = await probeGpu();
const execMissing = () => (fs.existsSync(path.join(ROOT, 'dist/cli/exec.js')) ? null : 'gpu-arbiter exec is not built (dist/cli/exec.js)');
const skip = firstReason(noGpu, torchMissing, execMissing);

interface Run {
  code: number | null;
  lines: Array<Record<string, unknown>>;
  grantedAt: number | null;
  stderr: string;
}

/** `gpu-arbiter exec` of hold_vram.py: its JSON lines, and when exec printed the grant (--json). */
function execHold(ns: string, vramMiB: number, allocMiB: number, seconds: number, onHolding?: () => void): Promise<Run> {
  const args = [
    CLI,
    'exec',
    '--backend',
    'host',
    '--namespace',
    ns,
    '--vram',
    String(vramMiB),
    '--json',
    '--',
    'python3',
    path.join(PY, 'hold_vram.py'),
    String(allocMiB),
    String(seconds),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { code: null, lines: [], grantedAt: null, stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      const rec = JSON.parse(line);
      run.lines.push(rec);
      if (rec.event === 'holding') onHolding?.();
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    if (run.grantedAt === null && chunk.includes('{')) run.grantedAt = Date.now() / 1000;
    run.stderr += chunk;
  });
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      run.code = code;
      resolve(run);
    }),
  );
}

describe.skipIf(skip !== null)(title('host backend on real VRAM (gpu-arbiter exec)', skip), () => {
  it('of two 60% requests one runs, the other waits for it to exit; each runs on the granted GPU', async () => {
    const gpu = snapshot.devices[0];
    const totalMiB = Math.floor((gpu.memory?.totalBytes ?? 0) / 1024 / 1024);
    const want = Math.floor(totalMiB * 0.6);
    const alloc = Math.floor(totalMiB * 0.5); // real allocation, inside what was declared
    const ns = `gpu-test-${process.pid}`;
    let second: Promise<Run> | undefined;
    const first = execHold(ns, want, alloc, 5, () => {
      second ??= execHold(ns, want, alloc, 1);
    });
    const a = await first;
    expect(a.code, a.stderr).toBe(0);
    expect(second, 'the first command never reported holding its VRAM').toBeDefined();
    const b = await second!;
    expect(b.code, b.stderr).toBe(0);
    const aHold = a.lines.find((l) => l.event === 'holding')!;
    const aDone = a.lines.find((l) => l.event === 'released')!;
    const bHold = b.lines.find((l) => l.event === 'holding')!;
    // The second began holding only after the first had let go (and exited).
    expect(bHold.at as number).toBeGreaterThanOrEqual(aDone.at as number);
    expect(b.grantedAt).not.toBeNull();
    expect(b.grantedAt!).toBeGreaterThanOrEqual(aDone.at as number);
    // exec handed each command the granted GPU, by UUID, and nothing else.
    for (const h of [aHold, bHold]) expect(h).toMatchObject({ visible: gpu.uuid, devices: 1, device: gpu.name });
    report(
      `host backend: 2 x ${want} MiB of ${totalMiB} MiB (each allocating ${alloc} MiB): second granted ` +
        `${(b.grantedAt! - (aDone.at as number)).toFixed(2)} s after the first released; torch saw ${aHold.device} as ${aHold.visible}`,
    );
    fs.rmSync(`/dev/shm/gpu-arbiter-${ns}`, { force: true });
  }, 240_000);
});
