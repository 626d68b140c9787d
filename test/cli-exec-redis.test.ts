// Issue 14, part 3: `gpu-arbiter exec --backend redis`: the same lease for the command as on the
// host ledger; a SIGKILLed wrapper's command dies with it and its hold ends with the lease TTL.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExecExit } from '../src/cli/exec-codes';
import { type ExecProcess, GPU_UUID, mockGpu, notRunning, runExec, startExec, trapTerm } from './fixtures/exec/harness';
import type { MockNvml } from './helpers/mock-nvml';
import { freePort, RedisServer } from './helpers/redis-server';
import { waitFor } from './helpers/wait';

let nvml: MockNvml;
let server: RedisServer;
let env: Record<string, string>;
const running: ExecProcess[] = [];

beforeAll(async () => {
  nvml = mockGpu();
  server = await RedisServer.start();
  env = nvml.env();
});
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
});
afterAll(async () => {
  await server.stop();
  nvml.cleanup();
});

const redis = (): string[] => ['--backend', 'redis', '--redis', server.url, '--namespace', `exec-${randomBytes(4).toString('hex')}`];

describe('gpu-arbiter exec --backend redis', () => {
  it('runs the command with the lease; a second exec is busy meanwhile (75) and gets the GPU after', async () => {
    const where = redis();
    const h = startExec([...where, '--vram', '15000', '--json', '--', ...trapTerm(5)], env);
    running.push(h);
    await h.waitFor('stdout', /ready/);
    const lease = await h.lease();
    expect(lease).toMatchObject({ task: 'EXEC', vramMiB: 15000, devices: [{ index: 0, uuid: GPU_UUID }] });
    expect(lease.fencingToken).toBeGreaterThan(0);
    const busy = await runExec([...where, '--vram', '4000', '--busy', 'skip', '--', 'sh', '-c', 'echo RAN'], env);
    expect(busy.code).toBe(ExecExit.BUSY);
    expect(busy.stdout).toBe('');
    h.child.kill('SIGTERM');
    expect((await h.exited).code).toBe(5);
    const next = await runExec([...where, '--vram', '4000', '--busy', 'reject', '--', 'sh', '-c', 'echo "RAN on $CUDA_VISIBLE_DEVICES"'], env);
    expect(next.code).toBe(0);
    expect(next.stdout).toBe(`RAN on ${GPU_UUID}\n`);
  });

  it('Redis unreachable: --fallback runs instead; without it exec exits 1', async () => {
    const down = ['--config', path.resolve(__dirname, 'fixtures/exec/redis.json'), '--profile', 'test', '--task', 'JOB'];
    down.push('--redis', `redis://127.0.0.1:${await freePort()}`);
    const fb = await runExec([...down, '--fallback', 'echo CPU; exit 6', '--', 'sh', '-c', 'echo RAN'], env);
    expect(fb.code).toBe(6);
    expect(fb.stdout).toBe('CPU\n');
    expect(fb.stderr).toMatch(/the ledger cannot be reached \(E_BACKEND_UNAVAILABLE: .*\); running the fallback instead/);
    const plain = await runExec([...down, '--', 'sh', '-c', 'echo RAN'], env);
    expect(plain.code).toBe(ExecExit.ERROR);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toMatch(/E_BACKEND_UNAVAILABLE/);
  }, 30_000); // Redis is waited for about 5 s each time

  it('SIGKILL of the wrapper: the command is gone at once; the hold ends with its TTL (1 s here)', async () => {
    const where = ['--config', path.resolve(__dirname, 'fixtures/exec/redis.json'), '--profile', 'test', ...redis(), '--task', 'JOB'];
    const p = startExec([...where, '--json', '--', 'sleep', '30'], env);
    running.push(p);
    const { pid } = await p.lease();
    p.child.kill('SIGKILL');
    await waitFor(() => notRunning(pid), `the command (pid ${pid}) to be gone`, 1000, 5);
    const started = Date.now();
    const next = await runExec([...where, '--max-wait', '10s', '--json', '--', 'true'], env);
    expect(next.code).toBe(0);
    expect(JSON.parse(next.stderr.match(/^\{.*\}$/m)![0]).waitedMs).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
