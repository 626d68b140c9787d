// Issue 14, part 3: `gpu-arbiter exec`'s command line (every flag checked before anything is
// spawned or acquired), the gate line it hands the command, and its exit-code table.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { GpuArbiterError } from '../src/errors';
import { parseDuration, parseExecArgs } from '../src/cli/exec-args';
import { gateOpenLine, shellQuote } from '../src/cli/exec-child';
import { codeOfExit, ExecExit, notGranted } from '../src/cli/exec-codes';
import { cli } from './fixtures/exec/harness';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseExecArgs(argv, env);

describe('gpu-arbiter exec: flags', () => {
  it('defaults: task EXEC, backend host, wait without limit, grace 10 s', () => {
    expect(parse(['--vram', '6000', '--', 'python3', 'ocr.py', '--flag'])).toEqual({
      command: ['python3', 'ocr.py', '--flag'],
      task: 'EXEC',
      vramMiB: 6000,
      gpus: 1,
      priority: undefined,
      maxWaitMs: undefined,
      busy: undefined,
      fallback: undefined,
      backend: undefined,
      namespace: undefined,
      redis: undefined,
      config: undefined,
      profile: undefined,
      label: undefined,
      graceMs: 10_000,
      json: false,
    });
  });

  it('reads every flag; everything after "--" is the command, flags included', () => {
    const o = parse([
      ...['--task', 'OCR', '--vram', '6000', '--priority', '60', '--max-wait', '30s', '--busy', 'skip', '--fallback', 'echo cpu'],
      ...['--gpus', '1', '--backend', 'redis', '--redis', 'redis://r:6379', '--namespace', 'prod', '--label', 'job 42', '--grace', '1.5s', '--json'],
      ...['--', 'ffmpeg', '--vram', '1'],
    ]);
    expect(o).toMatchObject({
      command: ['ffmpeg', '--vram', '1'],
      task: 'OCR',
      vramMiB: 6000,
      priority: 60,
      maxWaitMs: 30_000,
      busy: 'skip',
      fallback: 'echo cpu',
      backend: 'redis',
      redis: 'redis://r:6379',
      namespace: 'prod',
      label: 'job 42',
      graceMs: 1500,
      json: true,
    });
  });

  it('durations: ms, s, m, h and 0', () => {
    expect(['500ms', '30s', '2m', '1h', '0', '0s', '0.25s'].map((d) => parseDuration('--max-wait', d))).toEqual([500, 30_000, 120_000, 3_600_000, 0, 0, 250]);
  });

  it('$GPU_ARBITER_NAMESPACE is the default namespace (not with --config or --backend local)', () => {
    const env = { GPU_ARBITER_NAMESPACE: 'ci' };
    expect(parse(['--vram', '1', '--', 'x'], env)).toMatchObject({ namespace: 'ci' });
    expect(parse(['--vram', '1', '--namespace', 'mine', '--', 'x'], env)).toMatchObject({ namespace: 'mine' });
    expect(parse(['--vram', '1', '--backend', 'local', '--', 'x'], env)).toMatchObject({ namespace: undefined });
    expect(parse(['--config', 'f.json', '--', 'x'], env)).toMatchObject({ namespace: undefined, vramMiB: undefined });
  });

  it('--help', () => {
    expect(parse(['--help'])).toBe('help');
    expect(parse(['-h', '--', 'x'])).toBe('help');
  });

  const refused: Array<[string[], RegExp]> = [
    [['--vram', '10'], /^Expected "-- <command> \[args...\]" for the command but received nothing$/],
    [['--vram', '10', '--'], /^Expected "-- <command> \[args...\]" for the command but received nothing$/],
    [['--vram', '10', 'python3', 'x.py'], /^Expected "-- <command> \[args...\]" for the command but received "python3" without "--" in front$/],
    [['--', 'x'], /^Expected an integer from 1 to 2147483647 \(MiB; required without --config\) for --vram but received nothing$/],
    [['--vram', '0', '--', 'x'], /^Expected an integer from 1 to 2147483647 for --vram but received "0"$/],
    [['--vram', '1.5', '--', 'x'], /for --vram but received "1.5"$/],
    [['--vram', '10', '--priority', '1001', '--', 'x'], /^Expected an integer from 0 to 1000 for --priority but received "1001"$/],
    [['--vram', '10', '--max-wait', '5x', '--', 'x'], /^Expected a duration such as 500ms, 30s or 2m \(at most 24d\) for --max-wait but received "5x"$/],
    [['--vram', '10', '--max-wait', '30', '--', 'x'], /for --max-wait but received "30"$/],
    [['--vram', '10', '--grace', '-1s', '--', 'x'], /--grace/],
    [['--vram', '10', '--busy', 'maybe', '--', 'x'], /^Expected wait, skip, reject for --busy but received "maybe"$/],
    [
      ['--vram', '10', '--busy', 'reject', '--max-wait', '1s', '--', 'x'],
      /^Expected nothing with --busy reject \(it never waits\) for --max-wait but received "1s"$/,
    ],
    [['--vram', '10', '--backend', 'gpu', '--', 'x'], /^Expected host, local, redis for --backend but received "gpu"$/],
    [['--vram', '10', '--backend', 'redis', '--', 'x'], /^Expected a redis:\/\/ URL \(--backend redis\) for --redis but received nothing$/],
    [['--vram', '10', '--redis', 'redis://r', '--', 'x'], /^Expected nothing unless --backend is redis for --redis but received "redis:\/\/r"$/],
    [['--vram', '10', '--backend', 'local', '--namespace', 'a', '--', 'x'], /^Expected a namespace with --backend host or redis for --namespace/],
    [['--vram', '10', '--profile', 'prod', '--', 'x'], /^Expected nothing without --config for --profile but received "prod"$/],
    [['--vram', '10', '--gpus', '17', '--', 'x'], /^Expected an integer from 1 to 16 for --gpus but received "17"$/],
    [['--vram', '10', '--gpus', 'two', '--', 'x'], /^Expected an integer from 1 to 16 for --gpus but received "two"$/],
    [['--vram', '10', '--label', 'é', '--', 'x'], /^Expected 1 to 128 printable ASCII characters for --label but received "é"$/],
    [['--vram', '10', '--fallback', ' ', '--', 'x'], /^Expected a shell command for --fallback but received " "$/],
    [['--vram', '10', '--task', '', '--', 'x'], /for --task but received ""$/],
    [['--vram', '10', '--vramm', '3', '--', 'x'], /Unknown option '--vramm'/],
  ];
  it.each(refused)('refuses %j', (argv, message) => {
    let err: unknown;
    try {
      parse(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GpuArbiterError);
    expect((err as GpuArbiterError).code).toBe('E_INVALID_ARGUMENT');
    expect((err as GpuArbiterError).message).toMatch(message);
  });

  it('the CLI exits 2 with the message (and runs nothing); --help exits 0', () => {
    const bad = spawnSync(process.execPath, [cli, 'exec', '--vram', '10', '--gpus', '17', '--', 'sh', '-c', 'echo RAN'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^gpu-arbiter exec: E_INVALID_ARGUMENT: Expected an integer from 1 to 16 for --gpus/);
    const help = spawnSync(process.execPath, [cli, 'exec', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: gpu-arbiter exec \[options\] -- <command> \[args...\]/);
    const top = spawnSync(process.execPath, [cli, 'help'], { encoding: 'utf8' });
    expect(top.stdout).toMatch(/\n {2}exec {7}runs a command under a GPU lease/);
  });
});

describe('gpu-arbiter exec: the gate line', () => {
  it('exports shell-quoted values, then execs the command', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(gateOpenLine({ CUDA_VISIBLE_DEVICES: 'GPU-1', GPU_ARBITER_LEASE_ID: "L'1 $(x)" })).toBe(
      `export CUDA_VISIBLE_DEVICES='GPU-1' GPU_ARBITER_LEASE_ID='L'\\''1 $(x)'; exec "$@"\n`,
    );
    expect(() => gateOpenLine({ A: 'two\nlines' })).toThrow(/Cannot pass/);
    expect(() => gateOpenLine({ 'A B': 'x' })).toThrow(/Cannot pass/);
  });

  it('the shell sets exactly those values', () => {
    const line = gateOpenLine({ V: `a'b"c $HOME \`id\` \\ ;` });
    const res = spawnSync('/bin/sh', ['-c', `${line.trimEnd().replace(/exec "\$@"$/, '')} printf %s "$V"`], { encoding: 'utf8' });
    expect(res.stdout).toBe(`a'b"c $HOME \`id\` \\ ;`);
  });
});

describe('gpu-arbiter exec: exit codes', () => {
  const err = (code: ConstructorParameters<typeof GpuArbiterError>[0]) => new GpuArbiterError(code, 'x');
  it('maps a failed acquire by code and busy policy', () => {
    expect(notGranted(err('E_TIMEOUT'), 'WAIT')).toMatchObject({ code: 124, fallback: true });
    expect(notGranted(err('E_TIMEOUT'), 'SKIP')).toMatchObject({ code: 75, fallback: true });
    expect(notGranted(err('E_TIMEOUT'), 'FALLBACK_CPU')).toMatchObject({ code: 75, fallback: true });
    expect(notGranted(err('E_BUSY'), 'REJECT')).toMatchObject({ code: 75, fallback: true });
    expect(notGranted(err('E_QUEUE_FULL'), 'WAIT')).toMatchObject({ code: 75, fallback: true });
    expect(notGranted(err('E_DOES_NOT_FIT'), 'WAIT')).toMatchObject({ code: 69, fallback: true });
    expect(notGranted(err('E_NO_DEVICE'), 'WAIT')).toMatchObject({ code: 69, fallback: true });
    expect(notGranted(err('E_BACKEND_UNAVAILABLE'), 'WAIT')).toMatchObject({ code: 1, fallback: true });
    expect(notGranted(err('E_UNKNOWN_TASK'), 'WAIT')).toMatchObject({ code: 2, fallback: false });
    expect(notGranted(err('E_CLOSED'), 'WAIT')).toMatchObject({ code: 1, fallback: false });
    expect(notGranted(new Error('boom'), 'WAIT')).toMatchObject({ code: 1, fallback: false });
  });

  it('a process exit: its code, or 128 + the signal number', () => {
    expect(codeOfExit(0, null)).toBe(0);
    expect(codeOfExit(7, null)).toBe(7);
    expect(codeOfExit(null, 'SIGTERM')).toBe(143);
    expect(codeOfExit(null, 'SIGKILL')).toBe(137);
    expect(ExecExit).toEqual({ ERROR: 1, USAGE: 2, NO_FIT: 69, LEASE_LOST: 70, BUSY: 75, TIMEOUT: 124, SIGNAL_BASE: 128 });
  });
});
