// RedisLeases against one real redis-server on loopback (by URL, and found through Sentinel).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLeases } from '../src/backends/redis/leases';
import { defineLeaseSuite, holder } from './helpers/redis-lease-suite';
import { RedisSentinelFixture, RedisServer } from './helpers/redis-server';
import { waitFor } from './helpers/wait';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});

defineLeaseSuite('single server', { target: () => server.url, servers: () => [server] });

describe('RedisLeases through Sentinel', () => {
  it('finds the master through { sentinels, name } and hands over through pub/sub', async () => {
    const sentinel = await RedisSentinelFixture.start(server);
    const opts = { redis: { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'mymaster' }, namespace: 'sentinel' };
    const a = await RedisLeases.open(opts);
    const b = await RedisLeases.open(opts);
    try {
      await a.setResource('gpu', { capacity: 1 });
      const g = await a.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      const next = b.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      await waitFor(() => b.usage('gpu')?.waiting === 1, 'waiter queued');
      await g.release();
      const g2 = await next;
      expect(g2.fencingToken).toBeGreaterThan(g.fencingToken);
      expect(await g2.release()).toBe('released');
    } finally {
      await a.close();
      await b.close();
      await sentinel.stop();
    }
  });
});

describe('RedisLeases options', () => {
  it('refuses bad options at the boundary, naming the field', async () => {
    await expect(RedisLeases.open({ redis: 'http://x' })).rejects.toThrow('Expected a redis:// or rediss:// URL for options.redis but received "http://x"');
    await expect(RedisLeases.open({ redis: server.url, namespace: 'a{b}' })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(RedisLeases.open({ redis: server.url, leaseTtlMs: 5 })).rejects.toThrow(
      'Expected an integer from 100 to 86400000 for options.leaseTtlMs but received 5',
    );
    await expect(RedisLeases.open({ redis: server.url, ttl: 5 } as never)).rejects.toThrow(/Unknown option options.ttl/);
  });

  it('open() fails with E_BACKEND_UNAVAILABLE when Redis cannot be reached', async () => {
    await expect(RedisLeases.open({ redis: 'redis://127.0.0.1:1', connectTimeoutMs: 500 })).rejects.toMatchObject({
      code: 'E_BACKEND_UNAVAILABLE',
    });
  });
});
