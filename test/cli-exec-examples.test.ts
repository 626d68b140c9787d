// The README's `gpu-arbiter exec` examples run as written and print what the README says they
// print. The commands and outputs are read from README.md, from the blocks that follow
// `<!-- exec-example <name> <part> -->` markers; stand-ins for `gpu-arbiter` (the built CLI, as
// npm links it) and `ffmpeg` (prints its arguments) come first on the PATH, and the GPU is a
// mock 16 GiB one. GPU_ARBITER_EXEC_README points at another file to check text before it is
// merged into README.md.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ExecProcess, mockGpu, repoRoot, startExec, trapTerm } from './fixtures/exec/harness';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';
import type { MockNvml } from './helpers/mock-nvml';

const readme = process.env.GPU_ARBITER_EXEC_README ?? path.join(repoRoot, 'README.md');
const bin = path.resolve(__dirname, 'fixtures/exec/bin');

/** The fenced block right after `<!-- exec-example <name> <part> -->`. */
function block(name: string, part: string): string {
  const text = fs.readFileSync(readme, 'utf8');
  const marker = `<!-- exec-example ${name} ${part} -->`;
  const at = text.indexOf(marker);
  if (at === -1) throw new Error(`${readme} has no ${marker} (the "gpu-arbiter exec" section)`);
  const m = /^\s*```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at + marker.length));
  if (m === null) throw new Error(`${readme}: no fenced block after ${marker}`);
  return m[1]!;
}

let nvml: MockNvml;
let env: Record<string, string>;
const holders: ExecProcess[] = [];

beforeAll(() => {
  nvml = mockGpu();
});
afterEach(async () => {
  for (const h of holders.splice(0)) {
    h.child.kill('SIGTERM');
    await h.exited;
  }
  removeTestNamespaces();
});
afterAll(() => nvml.cleanup());

function setup(tag: string): void {
  env = {
    ...nvml.env(),
    GPU_ARBITER_NAMESPACE: uniqueNamespace(`exec-readme-${tag}`),
    PATH: `${bin}${path.delimiter}${process.env.PATH}`,
    NODE: process.execPath,
  };
}

/** Runs a README command block with /bin/sh from the repository root. */
function runBlock(command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const python = spawnSync('python3', ['--version']).error === undefined;
if (!python && !process.env.CI) console.warn('gpu-arbiter tests: the README python example is skipped: python3 is not on the PATH');

describe('README: gpu-arbiter exec examples', () => {
  it.skipIf(!python && !process.env.CI)('python: examples/exec/ocr.py gets the GPU and its lease', async () => {
    setup('python');
    const res = await runBlock(block('python', 'command'));
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(block('python', 'output'));
    expect(res.code).toBe(0);
  });

  it('ffmpeg: NVENC on the free GPU; the CPU fallback at once while another job holds it', async () => {
    setup('ffmpeg');
    const command = block('ffmpeg', 'command');
    const free = await runBlock(command);
    expect(free.stderr).toBe('');
    expect(free.stdout).toBe(block('ffmpeg', 'output-free'));
    expect(free.code).toBe(0);

    const holder = startExec(['--vram', '15000', '--', ...trapTerm(0)], env);
    holders.push(holder);
    await holder.waitFor('stdout', /ready/);
    const busy = await runBlock(command);
    expect(busy.stdout).toBe(block('ffmpeg', 'output-busy'));
    expect(busy.stderr).toMatch(/^gpu-arbiter exec: the GPU is busy \(E_TIMEOUT: .*\); running the fallback instead\n$/);
    expect(busy.code).toBe(0);
  });
});
