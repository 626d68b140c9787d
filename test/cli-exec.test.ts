// Issue 14, part 3: `gpu-arbiter exec` runs a command under a GPU lease. Real child processes, a
// mock 16 GiB GPU (mock NVML), the host backend in a namespace of each test's own.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inspectHostNamespace } from '../src/backends/host/namespaces';
import { ExecExit } from '../src/cli/exec-codes';
import { CAPACITY_MIB, cli, type ExecProcess, GPU_UUID, mockGpu, runExec, startExec, trapTerm } from './fixtures/exec/harness';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';
import { type MockNvml, MiB } from './helpers/mock-nvml';

let nvml: MockNvml;
let env: Record<string, string>;
const running: ExecProcess[] = [];

beforeAll(() => {
  nvml = mockGpu();
});
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.child.kill('SIGTERM');
    await p.exited;
  }
  removeTestNamespaces();
});
afterAll(() => nvml.cleanup());

function setup(tag: string): string {
  const ns = uniqueNamespace(`exec-${tag}`);
  env = { ...nvml.env(), GPU_ARBITER_NAMESPACE: ns };
  return ns;
}

/** An exec holding `vramMiB` of the GPU until the test ends (its command waits). */
async function holder(vramMiB: number, extra: string[] = []): Promise<ExecProcess> {
  const p = startExec(['--vram', String(vramMiB), '--json', ...extra, '--', ...trapTerm(0)], env);
  running.push(p);
  await p.waitFor('stdout', /ready/);
  return p;
}

describe('gpu-arbiter exec: the command runs with the lease', () => {
  it('passes the GPU environment, exits with the command’s code and names the command’s pid in the hold', async () => {
    const ns = setup('env');
    const script = 'echo "$CUDA_VISIBLE_DEVICES|$CUDA_DEVICE_ORDER|$GPU_ARBITER_FENCING_TOKEN|$GPU_ARBITER_LEASE_ID|$$"; exit 7';
    const res = await runExec(['--vram', '4000', '--json', '--label', 'job-1', '--', 'sh', '-c', script], env);
    expect(res.code).toBe(7);
    const lease = JSON.parse(res.stderr.match(/^\{.*\}$/m)![0]);
    expect(lease).toMatchObject({
      leaseId: 'L1',
      task: 'EXEC',
      devices: [{ index: 0, uuid: GPU_UUID, name: 'NVIDIA A16' }],
      fencingToken: 1,
      vramMiB: 4000,
    });
    expect(lease.waitedMs).toBeGreaterThanOrEqual(0);
    expect(res.stdout).toBe(`${GPU_UUID}|PCI_BUS_ID|1|L1|${lease.pid}\n`);
    // Released when the command exited.
    const ledger = inspectHostNamespace(ns);
    expect(ledger.holders).toEqual([]);
    expect(ledger.resources[0]).toMatchObject({ name: `gpu:${GPU_UUID}`, used: 0, lastFencingToken: 1 });
  });

  it('the hold is accounted to the command’s pid (ledger label), not the wrapper’s', async () => {
    const ns = setup('pid');
    const p = await holder(4000);
    const { pid } = await p.lease();
    expect(pid).not.toBe(p.pid);
    const holders = inspectHostNamespace(ns).holders;
    expect(holders).toHaveLength(1);
    expect(holders[0]).toMatchObject({ units: 4000, priority: 50 });
    expect(holders[0]!.label).toBe(`${pid} L1 EXEC`);
    // The ledger's process record is the wrapper (it holds the hold; its death reclaims it).
    expect(holders[0]!.pid).toBe(p.pid);
    const status = spawnSync(process.execPath, [cli, 'status', '--host-namespace', ns], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(status.stdout).toMatch(
      new RegExp(`holder pid ${p.pid} thread 0: 4000 unit\\(s\\), priority 50, .*, task EXEC, lease L1, VRAM used by pid ${pid}\n`),
    );
  });

  it('says so on stderr when NVML shows the command using more VRAM than it declared', async () => {
    setup('overuse');
    const p = await holder(4000);
    const { pid } = await p.lease();
    try {
      nvml.update((s) => {
        s.devices[0]!.processes = [{ pid, usedBytes: 6000 * MiB }];
        s.devices[0]!.memoryUsed = 6000 * MiB;
      });
      await p.waitFor('stderr', /the command \(pid \d+\) uses 6000 MiB of GPU 0, over the 4000 MiB it declared/);
    } finally {
      nvml.update((s) => {
        s.devices[0]!.processes = [];
        s.devices[0]!.memoryUsed = 0;
      });
    }
  });

  it('a command killed by a signal gives 128 + the signal number', async () => {
    setup('sig');
    expect((await runExec(['--vram', '10', '--', 'sh', '-c', 'kill -TERM $$'], env)).code).toBe(128 + 15);
    expect((await runExec(['--vram', '10', '--', 'sh', '-c', 'kill -KILL $$'], env)).code).toBe(128 + 9);
  });

  it('a command that cannot be found exits 127 (from the shell), with the hold released', async () => {
    const ns = setup('nf');
    const res = await runExec(['--vram', '10', '--', 'no-such-command-gpu-arbiter'], env);
    expect(res.code).toBe(127);
    expect(res.stderr).toMatch(/no-such-command-gpu-arbiter: not found/);
    expect(inspectHostNamespace(ns).holders).toEqual([]);
  });
});

describe('gpu-arbiter exec: busy policies', () => {
  it('--busy skip and --busy reject exit 75 and run nothing while another exec holds the GPU', async () => {
    setup('busy');
    await holder(15000);
    for (const busy of ['skip', 'reject']) {
      const started = Date.now();
      const res = await runExec(['--vram', '4000', '--busy', busy, '--', 'sh', '-c', 'echo RAN'], env);
      expect(res.code).toBe(ExecExit.BUSY);
      expect(res.stdout).toBe('');
      expect(res.stderr).toMatch(/the GPU is busy \((E_TIMEOUT|E_BUSY): .*\); nothing ran \(exit 75\)/);
      expect(Date.now() - started).toBeLessThan(5000);
    }
  });

  it('--fallback runs instead (its exit code is exec’s), and not when the GPU is free', async () => {
    setup('fallback');
    const h = await holder(15000);
    const args = ['--vram', '4000', '--busy', 'skip', '--fallback', 'echo "CPU $CUDA_VISIBLE_DEVICES"; exit 4', '--', 'sh', '-c', 'echo GPU; exit 0'];
    const busy = await runExec(args, env);
    expect(busy.code).toBe(4);
    expect(busy.stdout).toBe('CPU \n');
    expect(busy.stderr).toMatch(/the GPU is busy .*; running the fallback instead/);
    h.child.kill('SIGTERM');
    await h.exited;
    const free = await runExec(args, env);
    expect(free.code).toBe(0);
    expect(free.stdout).toBe('GPU\n');
  });

  it('--max-wait under --busy wait times out with 124 (after about that long), running nothing', async () => {
    setup('timeout');
    await holder(15000);
    const started = Date.now();
    const res = await runExec(['--vram', '4000', '--max-wait', '400ms', '--', 'sh', '-c', 'echo RAN'], env);
    const took = Date.now() - started;
    expect(res.code).toBe(ExecExit.TIMEOUT);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/timed out waiting for the GPU \(E_TIMEOUT: .*\); nothing ran \(exit 124\)/);
    expect(took).toBeGreaterThanOrEqual(400);
  });

  it('a waiter is granted when the holder’s command exits', async () => {
    setup('handoff');
    const h = await holder(15000);
    const waiter = startExec(['--vram', '4000', '--', 'sh', '-c', 'echo RAN'], env);
    await new Promise((r) => setTimeout(r, 300));
    expect(waiter.stdout).toBe('');
    h.child.kill('SIGTERM'); // forwarded: the holder's command exits 0, the hold is released
    expect((await h.exited).code).toBe(0);
    const res = await waiter.exited;
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('RAN\n');
  });

  it('a request no GPU could ever hold exits 69 at once (or runs the fallback)', async () => {
    setup('nofit');
    const res = await runExec(['--vram', String(CAPACITY_MIB + 1), '--', 'sh', '-c', 'echo RAN'], env);
    expect(res.code).toBe(ExecExit.NO_FIT);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/no GPU can ever hold this request \(E_DOES_NOT_FIT/);
    const fb = await runExec(['--vram', String(CAPACITY_MIB + 1), '--fallback', 'echo CPU', '--', 'sh', '-c', 'echo RAN'], env);
    expect(fb.code).toBe(0);
    expect(fb.stdout).toBe('CPU\n');
  });

  it('no NVML: E_NO_DEVICE exits 69', async () => {
    setup('nonvml');
    const res = await runExec(['--vram', '10', '--', 'sh', '-c', 'echo RAN'], { ...env, GPU_ARBITER_NVML_LIB: '/nonexistent/libnvidia-ml.so.1' });
    expect(res.code).toBe(ExecExit.NO_FIT);
    expect(res.stderr).toMatch(/E_NO_DEVICE/);
    expect(res.stdout).toBe('');
  });
});

describe('gpu-arbiter exec --config', () => {
  const file = path.resolve(__dirname, 'fixtures/exec/lease-loss.json');
  // With --config the profile names the ledger ($GPU_ARBITER_NAMESPACE is not used): say it here.
  const config = (ns: string, task: string): string[] => ['--config', file, '--profile', 'test', '--namespace', ns, '--task', task];

  it('a lost lease (watchdog revoke) sends SIGTERM to the command; exec exits 70 and says why', async () => {
    const ns = setup('lost');
    const p = startExec([...config(ns, 'SHORT'), '--json', '--', ...trapTerm(0)], env);
    const res = await p.exited;
    expect(res.code).toBe(ExecExit.LEASE_LOST);
    expect(res.stdout).toBe('ready\ngot TERM\n');
    expect(res.stderr).toMatch(/lease lost \(.*revoked.*\): SIGTERM to the command, SIGKILL in 10000 ms/);
    expect(res.stderr).toMatch(/stopped because its lease was lost \(exit 0\); exit 70/);
    expect(JSON.parse(res.stderr.match(/^\{.*\}$/m)![0])).toMatchObject({ task: 'SHORT', vramMiB: 2000 });
  });

  it('a command that ignores SIGTERM is killed after --grace', async () => {
    const ns = setup('grace');
    const started = Date.now();
    const res = await runExec(
      [...config(ns, 'SHORT'), '--grace', '200ms', '--', 'sh', '-c', "trap 'echo ignoring TERM' TERM; while :; do sleep 0.05; done"],
      env,
    );
    expect(res.code).toBe(ExecExit.LEASE_LOST);
    expect(res.stdout).toBe('ignoring TERM\n');
    expect(res.stderr).toMatch(/outlived --grace 200 ms: SIGKILL/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('--vram, --priority and --busy override the profile’s task; an unknown task exits 2', async () => {
    const ns = setup('override');
    await holder(15000);
    const skip = await runExec([...config(ns, 'LONG'), '--busy', 'reject', '--', 'sh', '-c', 'echo RAN'], env);
    expect(skip.code).toBe(ExecExit.BUSY);
    expect(skip.stderr).toMatch(/E_BUSY/);
    // Per call: 300 MiB at priority 90 fits beside the 15000 held (the profile says 2000 at 50).
    const p = startExec([...config(ns, 'LONG'), '--vram', '300', '--priority', '90', '--', ...trapTerm(0)], env);
    running.push(p);
    await p.waitFor('stdout', /ready/);
    expect(inspectHostNamespace(ns).holders.find((h) => h.label.endsWith(' LONG'))).toMatchObject({ units: 300, priority: 90 });
    const unknown = await runExec([...config(ns, 'NOPE'), '--', 'true'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/E_UNKNOWN_TASK: Unknown task "NOPE" \(--task\); .* has: SHORT, LONG/);
    expect(unknown.stdout).toBe('');
  });
});
