// The shared backend contract (test/helpers/backend-contract.ts) run against RedisBackend on a
// real redis-server, one namespace per test.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { RedisBackend } from '../src/backends/redis/backend';
import { backendContract } from './helpers/backend-contract';
import { RedisServer } from './helpers/redis-server';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});

backendContract('redis', {
  create: () => RedisBackend.open({ redis: server.url, namespace: `c${randomBytes(4).toString('hex')}` }),
  quietMs: 30,
  closedRefusesNew: true,
});
