// The README's BullMQ example runs as written and prints what the README shows (issue 18), against
// a real redis-server on a free loopback port. (examples/otel.js: test/examples.test.ts.)
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from './helpers/redis-server';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
});

function run(example: string, env: Record<string, string> = {}): string[] {
  const res = spawnSync(process.execPath, [path.resolve(__dirname, '../examples', example)], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  expect(res.stderr).toBe('');
  expect(res.status).toBe(0);
  return res.stdout.split('\n').filter(Boolean);
}

describe('examples/ (issue 18)', () => {
  it('bullmq-worker.js sizes each job’s lease and runs what fits side by side', () => {
    expect(run('bullmq-worker.js', { REDIS_PORT: String(redis.port) })).toEqual([
      'scan-1: 10 pages in 3048 MiB',
      'scan-2: 40 pages in 6048 MiB',
      'scan-3: 80 pages in 10048 MiB',
      'scan-4: 20 pages in 4048 MiB',
      'at most 2 jobs at once (16384 MiB of GPU)',
    ]);
  });
});
