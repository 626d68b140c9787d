// The node registry (GPUs from NVML, here the mock NVML, under a heartbeat TTL), the cluster
// view, and `gpu-arbiter status --redis URL`.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLeases } from '../src/backends/redis/leases';
import { NodeRegistry } from '../src/backends/redis/node-registry';
import { collectCluster, formatCluster } from '../src/backends/redis/cluster-view';
import { GiB, defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';
import { holder } from './helpers/redis-lease-suite';
import { RedisServer } from './helpers/redis-server';
import { sleep } from './helpers/wait';

const cli = path.resolve(__dirname, '../dist/cli/main.js');
let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});

describe('NodeRegistry and the cluster view', () => {
  const mock = useMockMonitor();

  it('nodes register their GPUs with a heartbeat TTL; the view lists live nodes with capacity and use; a stopped node disappears after its TTL', async () => {
    const namespace = `r${randomBytes(4).toString('hex')}`;
    const monitor = await mock.open({
      devices: [defaultDevice(0), defaultDevice(1, { name: 'NVIDIA L4', memoryTotal: 24 * GiB })],
    });
    const leases = await RedisLeases.open({ redis: server.url, namespace });
    const nodeA = await NodeRegistry.start({ redis: server.url, namespace, nodeId: 'node-a', monitor, ttlMs: 1500, leases });
    const nodeB = await NodeRegistry.start({ redis: server.url, namespace, nodeId: 'node-b', monitor, ttlMs: 1500 });
    try {
      const nodes = await nodeA.list();
      expect(nodes.map((n) => n.nodeId)).toEqual(['node-a', 'node-b']);
      expect(nodes[0]!.gpus).toMatchObject([
        { index: 0, name: 'NVIDIA A100-SXM4-40GB', totalMiB: 40 * 1024, resource: 'node-a/gpu0', error: null },
        { index: 1, name: 'NVIDIA L4', totalMiB: 24 * 1024, resource: 'node-a/gpu1' },
      ]);
      // node-a created its GPUs' resources (capacity = VRAM MiB); a lease shows as use.
      const g = await leases.acquire({ resource: 'node-a/gpu1', units: 2500, priority: 90, holder: holder('ASR') });
      await sleep(1700); // longer than the TTL: heartbeats keep both nodes alive
      const view = await collectCluster(server.url, { namespace });
      expect(view.nodes.map((n) => n.nodeId)).toEqual(['node-a', 'node-b']);
      expect(view.nodes[0]!.gpus[1]!.use).toEqual({ capacity: 24 * 1024, external: 0, declared: 2500, closed: false, holders: 1, waiting: 0 });
      expect(view.nodes[1]!.gpus[0]!.use).toBeNull(); // node-b did not configure resources
      const text = formatCluster(view);
      expect(text).toMatch(/^namespace .*: 2 live node\(s\)$/m);
      expect(text).toMatch(/GPU 1 {2}NVIDIA L4 {2}24576 MiB {2}resource node-a\/gpu1/);
      expect(text).toMatch(/use: 2500\/24576 declared, 0 external, 22076 free, 1 holder\(s\), 0 waiting/);

      // The CLI shows the same.
      const res = spawnSync(process.execPath, [cli, 'status', '--redis', server.url, '--namespace', namespace], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/2 live node\(s\)/);
      expect(res.stdout).toMatch(/node node-a {2}host .* pid \d+/);
      const json = spawnSync(process.execPath, [cli, 'status', '--redis', server.url, '--namespace', namespace, '--json'], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(JSON.parse(json.stdout).nodes).toHaveLength(2);

      // node-b stops heartbeating without unregistering (as if it died): gone after its TTL.
      await nodeB.stop({ unregister: false });
      expect((await nodeA.list()).map((n) => n.nodeId)).toEqual(['node-a', 'node-b']);
      await sleep(1700);
      expect((await nodeA.list()).map((n) => n.nodeId)).toEqual(['node-a']);
      await g.release();
    } finally {
      await nodeA.stop();
      await nodeB.stop();
      await leases.close();
    }
    // A clean stop unregisters at once.
    expect((await collectCluster(server.url, { namespace })).nodes).toEqual([]);
  });

  it('status --redis with Redis unreachable fails with E_BACKEND_UNAVAILABLE', () => {
    const res = spawnSync(process.execPath, [cli, 'status', '--redis', 'redis://127.0.0.1:1'], { encoding: 'utf8', timeout: 20_000 });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/E_BACKEND_UNAVAILABLE/);
  });
});
