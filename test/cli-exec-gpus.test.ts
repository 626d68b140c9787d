// `gpu-arbiter exec --gpus N` (issue 14, parts 2 and 3): a command that needs several GPUs at once
// gets all of them or none, named in CUDA_VISIBLE_DEVICES; real child processes, two mock 16 GiB
// GPUs (mock NVML), the host backend in a namespace of the test's own.
import { afterAll, describe, expect, it } from 'vitest';
import { inspectHostNamespace } from '../src/backends/host/namespaces';
import { ExecExit } from '../src/cli/exec-codes';
import { runExec } from './fixtures/exec/harness';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';
import { defaultDevice, GiB, MockNvml } from './helpers/mock-nvml';

const UUIDS = ['GPU-11111111-0000-0000-0000-000000000000', 'GPU-22222222-0000-0000-0000-000000000000'];
const nvml = MockNvml.create({ devices: UUIDS.map((uuid, i) => defaultDevice(i, { uuid, memoryTotal: 16 * GiB })) });
afterAll(() => {
  nvml.cleanup();
  removeTestNamespaces();
});

describe('gpu-arbiter exec --gpus', () => {
  it('--gpus 2: the command sees both GPUs; both holds name its pid and are gone when it exits', async () => {
    const ns = uniqueNamespace('exec-gpus');
    const env = { ...nvml.env(), GPU_ARBITER_NAMESPACE: ns };
    // The command reports what the ledger shows while it runs: one hold per GPU, both its own.
    const peek = `node -e "const {inspectHostNamespace}=require('${process.cwd()}/dist');const h=inspectHostNamespace('${ns}').holders;console.log(h.length,h.every(x=>x.label.startsWith(process.ppid+' ')))"`;
    const res = await runExec(['--vram', '4000', '--gpus', '2', '--json', '--', 'sh', '-c', `echo "$CUDA_VISIBLE_DEVICES"; ${peek}`], env);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(`${UUIDS.join(',')}\n2 true\n`);
    const lease = JSON.parse(res.stderr.match(/^\{.*\}$/m)![0]);
    expect(lease.devices.map((d: { index: number; uuid: string }) => [d.index, d.uuid])).toEqual([
      [0, UUIDS[0]],
      [1, UUIDS[1]],
    ]);
    expect(inspectHostNamespace(ns).holders).toEqual([]);
  });

  it('--gpus 3 on a host with two: nothing runs, exit NO_FIT', async () => {
    const env = { ...nvml.env(), GPU_ARBITER_NAMESPACE: uniqueNamespace('exec-gpus') };
    const res = await runExec(['--vram', '4000', '--gpus', '3', '--', 'sh', '-c', 'echo RAN'], env);
    expect(res.code).toBe(ExecExit.NO_FIT);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/needs 3 GPUs with 4000 MiB each; 2 GPU\(s\) here/);
  });
});
