import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../src/backends/local';
import { backendContract } from './helpers/backend-contract';

backendContract('local', { create: () => new LocalBackend() });

describe('LocalBackend specifics', () => {
  it('refuses an undeclared resource and bad units with E_INVALID_ARGUMENT naming the field', async () => {
    const b = new LocalBackend();
    b.setResource('r', { capacity: 2 });
    await expect(b.acquire({ resource: 'nope', units: 1, priority: 0, holder: { leaseId: 'x', task: 'T', pid: 1 } })).rejects.toThrow(
      /request\.resource/,
    );
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
