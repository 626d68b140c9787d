// All-or-nothing sets on Redis across processes (issue 14, part 2): two client processes, 1000
// rounds each of the same two GPUs of one node (only one set fits at a time) on a real
// redis-server, with an observer reading the ledger meanwhile.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { resourceKeys } from '../src/backends/redis/keys';
import { RedisLeases } from '../src/backends/redis/leases';
import { RedisServer } from './helpers/redis-server';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});

function client(namespace: string, rounds: number): Promise<string> {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures/redis/set-client.cjs'), server.url, namespace, String(rounds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  return new Promise((resolve) => child.on('exit', () => resolve(out.trim())));
}

describe('RedisLeases.acquireSet across processes', () => {
  it('2 processes x 1000 rounds of 2 of 2 GPUs: no deadlock, never two sets on the GPUs at once, one grant order on both', async () => {
    const namespace = `sets${randomBytes(4).toString('hex')}`;
    const admin = await RedisLeases.open({ redis: server.url, namespace });
    try {
      for (const r of ['node-s/gpu0', 'node-s/gpu1']) await admin.setResource(r, { capacity: 10 });
      const rounds = 1000;
      let done = false;
      const running = Promise.all([client(namespace, rounds), client(namespace, rounds)]).finally(() => {
        done = true;
      });
      // A set held on one GPU while another set holds the other would be a partial grant (a set
      // being released shows on one GPU alone for a moment; it never shows beside another set).
      // Both GPUs' holders read in one script (one moment of the ledger).
      const raw = new Redis(server.url);
      const holders = ['node-s/gpu0', 'node-s/gpu1'].map((r) => resourceKeys(namespace, r).holders);
      const mixed: string[] = [];
      let views = 0;
      while (!done) {
        const [h0, h1] = (await raw.eval("return { redis.call('HKEYS', KEYS[1]), redis.call('HKEYS', KEYS[2]) }", 2, ...holders)) as string[][];
        views++;
        const sets = new Set([...h0!, ...h1!].map((t) => t.split('.')[0]));
        if (sets.size > 1) mixed.push([...sets].join(' '));
      }
      raw.disconnect();
      const outs = await running;
      const fences = outs.map((o) => {
        expect(o).toMatch(/^done 1000 /);
        return JSON.parse(o.slice(`done ${rounds} `.length)) as number[][];
      });
      expect(mixed).toEqual([]);
      // Both GPUs granted the sets in the same order: sorted by GPU 0's fencing token, GPU 1's rise too.
      const all = fences.flat().sort((x, y) => x[0]! - y[0]!);
      expect(all.every((f, i) => i === 0 || f[1]! > all[i - 1]![1]!)).toBe(true);
      expect(new Set(all.map((f) => f[1])).size).toBe(2 * rounds);
      expect(views).toBeGreaterThan(10);
      console.log(`redis: 2 processes x ${rounds} sets of 2 GPUs, ${views} views of the ledger`);
    } finally {
      await admin.close();
    }
  }, 180_000);
});
