import { describe, expect, it, vi } from 'vitest';
import { LocalBackend } from '../src/backends/local/backend';
import { backendContract } from './helpers/backend-contract';

backendContract('local', { create: () => new LocalBackend() });

describe('LocalBackend specifics', () => {
  it('refuses an undeclared resource and bad units with E_INVALID_ARGUMENT naming the field', async () => {
    const b = new LocalBackend();
    b.setResource('r', { capacity: 2 });
    await expect(b.acquire({ resource: 'nope', units: 1, priority: 0, holder: { leaseId: 'x', task: 'T', pid: 1 } })).rejects.toThrow(/request\.resource/);
    await expect(b.acquire({ resource: 'r', units: 0, priority: 0, holder: { leaseId: 'x', task: 'T', pid: 1 } })).rejects.toThrow(
      'Expected an integer from 1 to 9007199254740991 for request.units but received 0',
    );
    expect(() => b.setResource('r', { capacity: -1 })).toThrow(/spec\.capacity/);
  });

  it('a higher-priority newcomer that fits goes ahead of a blocked head', async () => {
    const b = new LocalBackend();
    b.setResource('r', { capacity: 10 });
    const held = await b.acquire({ resource: 'r', units: 6, priority: 0, holder: { leaseId: 'a', task: 'T', pid: 1 } });
    const big = b.acquire({ resource: 'r', units: 8, priority: 1, holder: { leaseId: 'b', task: 'T', pid: 1 } });
    const urgent = await b.acquire({ resource: 'r', units: 2, priority: 2, holder: { leaseId: 'c', task: 'T', pid: 1 } });
    expect(urgent.waitedMs).toBe(0);
    urgent.release();
    held.release();
    (await big).release();
  });
});

describe('LocalBackend aging', () => {
  const holder = (leaseId: string) => ({ leaseId, task: 'T', pid: 1 });

  it('without aging, a steady stream of higher priorities starves a low one', async () => {
    vi.useFakeTimers();
    try {
      const b = new LocalBackend();
      b.setResource('r', { capacity: 1 });
      let held = await b.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('h') });
      let lowGot = false;
      const low = b.acquire({ resource: 'r', units: 1, priority: 10, holder: holder('low') }).then((g) => {
        lowGot = true;
        return g;
      });
      for (let i = 0; i < 5; i++) {
        await vi.advanceTimersByTimeAsync(1000);
        const next = b.acquire({ resource: 'r', units: 1, priority: 50, holder: holder(`high${i}`) });
        held.release();
        held = await next;
      }
      expect(lowGot).toBe(false);
      held.release();
      (await low).release();
    } finally {
      vi.useRealTimers();
    }
  });

  it('with agingMs, a long-waiting low priority overtakes newer higher ones', async () => {
    vi.useFakeTimers();
    try {
      const b = new LocalBackend({ agingMs: 100 });
      b.setResource('r', { capacity: 1 });
      const held = await b.acquire({ resource: 'r', units: 1, priority: 0, holder: holder('h') });
      const order: string[] = [];
      const take = (name: string, priority: number) =>
        b.acquire({ resource: 'r', units: 1, priority, holder: holder(name) }).then((g) => {
          order.push(name);
          g.release();
        });
      const low = take('low', 10);
      await vi.advanceTimersByTimeAsync(5000); // low: 10 + 50 = 60 effective
      const high = take('high', 50);
      expect(b.usage('r')!.headPriority).toBe(60);
      held.release();
      await Promise.all([low, high]);
      expect(order).toEqual(['low', 'high']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses a bad agingMs naming the field', () => {
    expect(() => new LocalBackend({ agingMs: 0 })).toThrow('Expected an integer from 1 to 2147483647 for options.agingMs but received 0');
  });
});
