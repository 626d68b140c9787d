// The critical-failure log never throws: a full disk loses (and counts) records.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CriticalLog } from '../src/observe/critical-log';

describe('CriticalLog', () => {
  it('appends one JSON object per line, in order', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-critlog-'));
    const file = path.join(dir, 'critical.jsonl');
    const log = new CriticalLog(file);
    for (let i = 0; i < 50; i++) log.append({ kind: 'lease-lost', seq: i });
    await log.flush();
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(lines[0]).toMatchObject({ kind: 'lease-lost', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(log.getStats()).toEqual({ written: 50, dropped: 0, lastError: null });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('on a full disk (/dev/full) drops and counts records without throwing', async () => {
    const log = new CriticalLog('/dev/full');
    expect(() => log.append({ kind: 'gpu-lost', device: 1 })).not.toThrow();
    log.append({ kind: 'gpu-lost', device: 2 });
    await log.flush();
    expect(log.getStats()).toMatchObject({ written: 0, dropped: 2, lastError: 'ENOSPC' });
  });

  it('an unwritable path and an unserialisable record are counted, not thrown', async () => {
    const log = new CriticalLog('/nonexistent-dir/critical.jsonl');
    const cyclic: Record<string, unknown> = { kind: 'overuse' };
    cyclic.self = cyclic;
    expect(() => log.append(cyclic as never)).not.toThrow();
    await log.flush();
    expect(log.getStats()).toMatchObject({ dropped: 1, lastError: 'ENOENT' });
  });

  it('bounds its queue while the disk is slow', async () => {
    const log = new CriticalLog('/dev/full');
    for (let i = 0; i < 5000; i++) log.append({ kind: 'watchdog', i });
    // The first record went to the disk; at most 1000 more wait in memory, the rest are
    // dropped at once rather than queued.
    expect(log.getStats().dropped).toBe(5000 - 1 - 1000);
    await log.flush();
    const stats = log.getStats();
    expect(stats.written).toBe(0);
    expect(stats.dropped).toBe(5000); // everything lost, all of it counted
  });
});
