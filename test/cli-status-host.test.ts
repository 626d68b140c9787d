// Issue 5, point 10: `gpu-arbiter status` shows the host ledger (holders with pid, thread,
// units, priority, since; waiters in queue order), as text and as JSON, without registering in it.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { HostLedger } from '../src/backends/host/ledger';
import { fakeGpus, GiB } from './helpers/fake-monitor';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';

afterAll(removeTestNamespaces);

const cli = path.resolve(__dirname, '../dist/cli/main.js');

// Async (not spawnSync): this process must keep serving its ledger's waiter thread meanwhile.
function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, GPU_ARBITER_NVML_LIB: '/nonexistent/libnvidia-ml.so.1' };
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('gpu-arbiter status: host ledger', () => {
  it('shows resources, holders and waiters of a namespace, as text and JSON', async () => {
    const ns = uniqueNamespace('cli-status');
    const ledger = await HostLedger.open({ namespace: ns, resources: { 'gpu:0': 24576 } });
    const g = await ledger.acquire('gpu:0', { units: 4096, priority: 80 });
    const waiting = ledger.acquire('gpu:0', { units: 24000, priority: 30 });

    const text = await run(['status', '--host-namespace', ns]);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(`host ledger ${ns}: 1 process(es)`);
    expect(text.stdout).toContain('gpu:0: 4096/24576 used, 1 waiting');
    expect(text.stdout).toMatch(new RegExp(`holder pid ${process.pid} thread 0: 4096 unit\\(s\\), priority 80, for \\d+`));
    expect(text.stdout).toContain(`waiter #0 pid ${process.pid} thread 0: 24000 unit(s), priority 30`);

    const json = await run(['status', '--json', '--host-namespace', ns]);
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.host).toHaveLength(1);
    expect(report.host[0].status.holders[0]).toMatchObject({ pid: process.pid, thread: 0, units: 4096, priority: 80, fencingToken: 1 });
    expect(report.host[0].status.waiters[0]).toMatchObject({ units: 24000, priority: 30, position: 0 });
    expect(report.host[0].status.processes).toHaveLength(1); // the CLI did not register

    // Without the flag it lists every namespace, ours included.
    const all = await run(['status']);
    expect(all.stdout).toContain(`host ledger ${ns}:`);

    await g.release();
    await (await waiting).release();
    await ledger.close();
  });

  it("shows a GpuArbiter's namespace (backend 'host'): its GPU resource and leases by task", async () => {
    const ns = uniqueNamespace('cli-arb');
    const arbiter = await GpuArbiter.create({
      backend: 'host',
      namespace: ns,
      monitor: fakeGpus({ totalMiB: 16 * GiB, uuid: 'GPU-cli-test' }),
      policies: { ASR: { priority: 90, vramMiB: 4096 }, TTS: { priority: 70, vramMiB: 12000 } },
    });
    try {
      const lease = await arbiter.acquire('ASR');
      const waiting = arbiter.acquire('TTS');
      const text = await run(['status', '--host-namespace', ns]);
      expect(text.status).toBe(0);
      expect(text.stdout).toContain(`host ledger ${ns}: 1 process(es)`);
      expect(text.stdout).toContain(`gpu:GPU-cli-test: 4096/15564 used, 1 waiting`);
      expect(text.stdout).toMatch(new RegExp(`holder pid ${process.pid} thread 0: 4096 unit\\(s\\), priority 90, .*, task ASR, lease L1\n`));
      expect(text.stdout).toContain(`waiter #0 pid ${process.pid} thread 0: 12000 unit(s), priority 70, waiting`);
      expect(text.stdout).toContain('task TTS, lease L2');
      await lease.release();
      await (await waiting).release();
    } finally {
      await arbiter.close();
    }
  });

  it('refuses a malformed --host-namespace with exit code 2', async () => {
    const res = await run(['status', '--host-namespace', '../etc']);
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/E_INVALID_ARGUMENT: Expected a namespace/);
  });
});
