// Issue 14 ("Also"): `redis:` takes ioredis options for one server ({ host, port, password, db,
// ... }) as ioredis users write them, besides a URL, an instance, Sentinel and Cluster seeds. On a
// real redis-server with a password; the password never shows.
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { RedisLeases } from '../src/backends/redis/leases';
import { isGpuArbiterError } from '../src/errors';
import { fakeGpus } from './helpers/fake-monitor';
import { holder } from './helpers/redis-lease-suite';
import { RedisServer } from './helpers/redis-server';

const PASSWORD = 'opt10ns-Pa55';
let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start(['--requirepass', PASSWORD]);
});
afterAll(async () => {
  await server?.stop();
});

const deep = (value: unknown) => inspect(value, { depth: Infinity, showHidden: true, getters: true });

describe('redis: ioredis options for one server', () => {
  it('RedisLeases and GpuArbiter connect with { host, port, password, db }; inspect shows the address, never the password', async () => {
    const redis = { host: '127.0.0.1', port: server.port, password: PASSWORD, db: 3 };
    const l = await RedisLeases.open({ redis, namespace: 'opts' });
    try {
      await l.setResource('gpu', { capacity: 1 });
      const g = await l.acquire({ resource: 'gpu', units: 1, priority: 1, holder: holder() });
      expect(await g.release()).toBe('released');
      const text = deep(l);
      expect(text).toContain(`redis://127.0.0.1:${server.port}`);
      expect(text).not.toContain(PASSWORD);
    } finally {
      await l.close();
    }
    const arbiter = await GpuArbiter.create({
      backend: 'redis',
      redis,
      namespace: 'opts-arbiter',
      nodeId: 'n1',
      monitor: fakeGpus({ totalMiB: 8192 }),
      policies: { JOB: { priority: 10, vramMiB: 1024 } },
    });
    try {
      const lease = await arbiter.acquire('JOB');
      expect(lease.device.index).toBe(0);
      await lease.release();
      expect(deep(arbiter)).not.toContain(PASSWORD);
    } finally {
      await arbiter.close();
    }
  });

  it('refuses bad fields naming them, without showing a password', async () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ host: '127.0.0.1', port: 0 }, /redis\.port but received 0/],
      [{ host: '', port: server.port }, /redis\.host but received ""/],
      [{ host: '127.0.0.1', db: -1 }, /redis\.db but received -1/],
      [{ host: '127.0.0.1', password: 42 }, /a string for (options\.)?redis\.password but received "number"/],
      [{ password: PASSWORD }, /with a host, port or path/],
    ];
    for (const [redis, message] of bad) {
      const err = await RedisLeases.open({ redis: redis as never }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isGpuArbiterError(err, 'E_INVALID_ARGUMENT'), JSON.stringify(Object.keys(redis))).toBe(true);
      expect((err as Error).message).toMatch(message);
      expect(deep(err)).not.toContain(PASSWORD);
    }
  });
});
