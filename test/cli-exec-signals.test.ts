// Issue 14, part 3: `gpu-arbiter exec` and signals - passed on to the command, ending a wait, and
// the wrapper killed with SIGKILL (its command dies with it; the hold is reclaimed).
import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inspectHostNamespace } from '../src/backends/host/namespaces';
import { cli, type ExecProcess, notRunning, repoRoot, runExec, startExec, trapTerm, mockGpu } from './fixtures/exec/harness';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';
import type { MockNvml } from './helpers/mock-nvml';
import { waitFor } from './helpers/wait';

let nvml: MockNvml;
let env: Record<string, string>;
const running: ExecProcess[] = [];

beforeAll(() => {
  nvml = mockGpu();
});
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
  removeTestNamespaces();
});
afterAll(() => nvml.cleanup());

function setup(tag: string): string {
  const ns = uniqueNamespace(`exsig-${tag}`);
  env = { ...nvml.env(), GPU_ARBITER_NAMESPACE: ns };
  return ns;
}

function start(args: string[]): ExecProcess {
  const p = startExec(args, env);
  running.push(p);
  return p;
}

/** A command that prints `got <SIG>` for each of SIGINT, SIGTERM, SIGHUP and exits `code` 300 ms after the first. */
const COUNTING = [
  'sh',
  '-c',
  `n=0; for s in INT TERM HUP; do trap "echo got $s; n=1" $s; done; echo ready
   k=0; while [ $k -lt 6 ]; do sleep 0.05; [ $n -eq 1 ] && k=$((k+1)); done; exit 3`,
];

describe('gpu-arbiter exec: signals while the command runs', () => {
  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) {
    it(`${signal} to exec reaches the command once; exec exits with the command's code`, async () => {
      setup(signal.toLowerCase());
      const p = start(['--vram', '100', '--', ...COUNTING]);
      await p.waitFor('stdout', /ready/);
      p.child.kill(signal);
      const res = await p.exited;
      expect(res.stdout).toBe(`ready\ngot ${signal.slice(3)}\n`);
      expect(res.code).toBe(3);
    });
  }

  it('SIGINT from a terminal (Ctrl-C) reaches the command once, not twice', async () => {
    setup('tty');
    // A command that counts every SIGINT as it comes (a shell's trap would merge two close ones).
    const counting = [
      process.execPath,
      '-e',
      "process.on('SIGINT', () => { console.log('got INT'); setTimeout(() => process.exit(3), 500); }); console.log('ready'); setInterval(() => {}, 1000);",
    ];
    // script(1) runs exec on a pseudo-terminal, in its foreground; \x03 there is Ctrl-C.
    // script hands the line to $SHELL -c (or /bin/sh where SHELL is unset, as in CI). `exec`
    // replaces that shell: dash, unlike bash, would itself die of the terminal's SIGINT and make
    // script report 130 whatever our exec did.
    const inner = ['exec', process.execPath, cli, 'exec', '--vram', '100', '--', ...counting].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qfec', inner, '/dev/null'], {
      env: { ...process.env, ...env, SHELL: '/bin/sh' },
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await waitFor(() => out.includes('ready'), 'the command to start on the terminal', 10_000);
    child.stdin.write('\x03');
    const code = await exited;
    expect(out.replace(/\r/g, '').match(/got \w+/g)).toEqual(['got INT']);
    expect(code).toBe(3);
  });

  it('a signal while waiting for the GPU ends the wait: nothing runs, exit 128 + signal, no waiter left', async () => {
    const ns = setup('waiting');
    const h = start(['--vram', '15000', '--', ...trapTerm(0)]);
    await h.waitFor('stdout', /ready/);
    const w = start(['--vram', '4000', '--', 'sh', '-c', 'echo RAN']);
    await waitFor(() => inspectHostNamespace(ns).waiters.length === 1, 'the second exec to queue');
    w.child.kill('SIGTERM');
    const res = await w.exited;
    expect(res.code).toBe(128 + 15);
    expect(res.stdout).toBe('');
    expect(inspectHostNamespace(ns).waiters).toEqual([]);
  });
});

describe('gpu-arbiter exec killed with SIGKILL', () => {
  it('its command is gone within a second and the next exec gets the GPU at once', async () => {
    const ns = setup('kill');
    const p = start(['--vram', '15000', '--json', '--', 'sleep', '30']);
    const { pid } = await p.lease();
    await waitFor(() => !notRunning(pid) && inspectHostNamespace(ns).holders.length === 1, 'the command to run under its hold');
    const killedAt = Date.now();
    p.child.kill('SIGKILL');
    await waitFor(() => notRunning(pid), `the command (pid ${pid}) to be gone`, 1000, 5);
    const goneMs = Date.now() - killedAt;
    await p.exited;
    const next = await runExec(['--vram', '15000', '--busy', 'reject', '--json', '--', 'sh', '-c', 'echo "got $CUDA_VISIBLE_DEVICES"'], env);
    expect(next.code).toBe(0);
    expect(next.stdout).toMatch(/^got GPU-/);
    expect(JSON.parse(next.stderr.match(/^\{.*\}$/m)![0])).toMatchObject({ fencingToken: 2, waitedMs: 0 });
    expect(inspectHostNamespace(ns).reclaimedProcesses).toBe(1);
    expect(goneMs).toBeLessThan(1000);
  });

  it('while it waited: its gated command never runs', async () => {
    const ns = setup('killwait');
    const h = start(['--vram', '15000', '--', ...trapTerm(0)]);
    await h.waitFor('stdout', /ready/);
    const w = start(['--vram', '4000', '--', 'sh', '-c', 'echo RAN']);
    await waitFor(() => inspectHostNamespace(ns).waiters.length === 1, 'the second exec to queue');
    const gate = inspectHostNamespace(ns).waiters[0]!.label.split(' ')[0]!;
    w.child.kill('SIGKILL');
    await waitFor(() => notRunning(Number(gate)), 'the gated command to be gone', 1000, 5);
    h.child.kill('SIGTERM');
    await h.exited;
    await new Promise((r) => setTimeout(r, 200));
    expect(w.stdout).toBe('');
    expect(inspectHostNamespace(ns).waiters).toEqual([]);
  });

  it('without setpriv: a warning, the command still runs, and a gated command never starts once exec is gone', async () => {
    const ns = setup('nosetpriv');
    const noSetpriv = { PATH: '/nonexistent-gpu-arbiter-test' }; // commands below are absolute paths
    const ran = await runExec(['--vram', '100', '--', '/bin/sh', '-c', 'echo RAN'], { ...env, ...noSetpriv });
    expect(ran.code).toBe(0);
    expect(ran.stdout).toBe('RAN\n');
    expect(ran.stderr).toMatch(/^gpu-arbiter exec: warning: setpriv \(util-linux\) not found on PATH: .* keeps running without its GPU hold\n$/);

    const h = start(['--vram', '15000', '--', ...trapTerm(0)]);
    await h.waitFor('stdout', /ready/);
    const w = startExec(['--vram', '4000', '--', '/bin/sh', '-c', 'echo RAN'], { ...env, ...noSetpriv });
    running.push(w);
    await waitFor(() => inspectHostNamespace(ns).waiters.length === 1, 'the second exec to queue');
    const gate = Number(inspectHostNamespace(ns).waiters[0]!.label.split(' ')[0]);
    w.child.kill('SIGKILL');
    // No parent-death signal: the gate sees its pipe close, runs nothing and exits 75.
    await waitFor(() => notRunning(gate), 'the gate to exit', 2000, 5);
    h.child.kill('SIGTERM');
    await h.exited;
    await new Promise((r) => setTimeout(r, 200));
    expect(w.stdout).toBe('');
  });
});
