// A fresh file for the mock NVML's call log (its `callLog` state key), removed after each test of
// the suite that uses it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach } from 'vitest';

/** Registers the clean-up; the returned function gives a new log path (one temp folder per test). */
export function useCallLog(): () => string {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-log-'));
    return path.join(dir, 'calls.log');
  };
}

/** The entry points the mock was called through, in order. */
export function readCalls(log: string): string[] {
  return fs.readFileSync(log, 'utf8').trim().split('\n');
}
