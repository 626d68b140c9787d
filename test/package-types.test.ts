// The published declarations (dist/*.d.ts, built with stripInternal) compile for a TypeScript
// user, and internals and test hooks are not part of them.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

describe('published types', () => {
  it('a consumer compiles against dist/ with skipLibCheck off; internal members are not visible', () => {
    const tsc = require.resolve('typescript/bin/tsc');
    const res = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'test/fixtures/types-consumer/tsconfig.json')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.stdout + res.stderr).toBe('');
    expect(res.status).toBe(0);
  }, 60_000);
});
