// The same RedisLeases suite against a 3-master Redis Cluster started here (redis-server in
// cluster mode + redis-cli --cluster create), through ioredis' Cluster client; then processes
// hammering resources that live on different masters.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLeases } from '../src/backends/redis/leases';
import { resourceKeys } from '../src/backends/redis/keys';
import { checkLog } from './helpers/lease-log';
import { spawnLeaseClient } from './helpers/redis-children';
import { defineLeaseSuite } from './helpers/redis-lease-suite';
import { RedisClusterFixture } from './helpers/redis-server';

let cluster: RedisClusterFixture;
beforeAll(async () => {
  cluster = await RedisClusterFixture.start();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

defineLeaseSuite('3-master cluster', { target: () => ({ cluster: cluster.seeds }), servers: () => cluster.nodes });

describe('RedisLeases on a cluster, across processes', () => {
  it('2 processes x 8 leases on resources spread over the masters: no overlap beyond capacity', async () => {
    const names = ['gpu-a', 'gpu-b', 'gpu-c', 'gpu-d', 'gpu-e', 'gpu-f'];
    // The resources' slots land on more than one master.
    const owners = new Set(
      names.map((r) => {
        const slot = Number(cluster.nodes[0]!.cli('CLUSTER', 'KEYSLOT', resourceKeys('hammer', r).meta).trim());
        return cluster.nodes.findIndex((n) => ownsSlot(n.cli('CLUSTER', 'MYID').trim(), slot));
      }),
    );
    expect(owners.size).toBeGreaterThan(1);
    const admin = await RedisLeases.open({ redis: { cluster: cluster.seeds }, namespace: 'hammer' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpa-cluster-'));
    try {
      for (const r of names) await admin.setResource(r, { capacity: 3 });
      const logFile = path.join(dir, 'log');
      fs.writeFileSync(logFile, '');
      const procs = [0, 1].map(() =>
        spawnLeaseClient({
          redis: { cluster: cluster.seeds },
          namespace: 'hammer',
          mode: 'hammer',
          durationMs: 3000,
          concurrency: 8,
          logFile,
          resources: names.map((name) => ({ name, maxUnits: 2 })),
        }),
      );
      for (const p of procs) {
        await p.line(/^\{/, 30_000);
        expect((await p.exited).code).toBe(0);
      }
      const check = checkLog(fs.readFileSync(logFile, 'utf8'), new Set());
      console.log(`cluster hammer: grants ${JSON.stringify(check.grants)}, peaks ${JSON.stringify(check.peak)}`);
      for (const r of names) {
        expect(check.peak[r]).toBeLessThanOrEqual(3);
        expect(check.grants[r]).toBeGreaterThan(10);
      }
      expect(check.duplicateFences).toBe(0);
      expect(check.unmatched).toBe(0);
    } finally {
      await admin.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }

    function ownsSlot(nodeId: string, slot: number): boolean {
      const nodes = cluster.nodes[0]!.cli('CLUSTER', 'NODES').split('\n');
      const line = nodes.find((l) => l.startsWith(nodeId));
      if (!line) return false;
      return line
        .split(' ')
        .slice(8)
        .some((range) => {
          const [a, b] = range.split('-').map(Number);
          return slot >= (a as number) && slot <= (b ?? (a as number));
        });
    }
  }, 60_000);
});
