// The shared command deadline (src/backends/redis/deadlines.ts): one timer for every command in
// flight, yet each is failed at its own deadline, in deadline order, and a settled one never.
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { Deadlines } from '../src/backends/redis/deadlines';

const never = () => new Promise<never>(() => undefined);
const later = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

describe('Deadlines', () => {
  it('settles like the command when it answers in time; fails it with its own error when not', async () => {
    const d = new Deadlines();
    await expect(d.within(later(5, 'ok'), 1000, () => new Error('late'))).resolves.toBe('ok');
    await expect(d.within(Promise.reject(new Error('refused')), 1000, () => new Error('late'))).rejects.toThrow('refused');
    const t0 = performance.now();
    await expect(d.within(never(), 40, () => new Error('late'))).rejects.toThrow('late');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(39);
  });

  it('a command added later with an earlier deadline is failed first; one that answered is never failed', async () => {
    const d = new Deadlines();
    const order: string[] = [];
    const long = d.within(never(), 300, () => new Error('long')).catch((e: Error) => order.push(e.message));
    const answered = d.within(later(10, 'ok'), 100, () => new Error('answered'));
    const short = d.within(never(), 50, () => new Error('short')).catch((e: Error) => order.push(e.message));
    await expect(answered).resolves.toBe('ok');
    await Promise.all([long, short]);
    expect(order).toEqual(['short', 'long']);
  });

  it('many commands in flight each fail at their own deadline, from one timer', async () => {
    const d = new Deadlines();
    const failed: number[] = [];
    await Promise.all([80, 20, 60, 40].map((ms) => d.within(never(), ms, () => new Error(String(ms))).catch((e: Error) => failed.push(Number(e.message)))));
    expect(failed).toEqual([20, 40, 60, 80]);
  });
});
