// RedisLeases against one real redis-server on loopback.
import { afterAll, beforeAll } from 'vitest';
import { defineLeaseSuite } from './helpers/redis-lease-suite';
import { RedisServer } from './helpers/redis-server';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});

defineLeaseSuite('single server', { target: () => server.url, servers: () => [server] });
