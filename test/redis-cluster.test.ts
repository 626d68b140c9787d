// The same RedisLeases suite against a 3-master Redis Cluster started here (redis-server in
// cluster mode + redis-cli --cluster create), through ioredis' Cluster client.
import { afterAll, beforeAll } from 'vitest';
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
