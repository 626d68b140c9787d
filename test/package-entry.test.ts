// The package is usable from CommonJS and from ES modules (Node >= 20.19), by its name.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

function node(args: string[]) {
  return spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 20_000 });
}

describe('package entry points', () => {
  it("the README's `npx gpu-arbiter status` runs in a checkout: the bin is built executable", () => {
    // npm 11 runs a project's own bin in place (no link in node_modules/.bin, no chmod): tsc
    // writes it 0644, so the build scripts chmod it (package.json build:ts, prepare, pretest).
    const res = spawnSync('npx', ['--no-install', 'gpu-arbiter', 'status', '--json'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, GPU_ARBITER_NVML_LIB: '/nonexistent/libnvidia-ml.so.1' },
    });
    expect(res.stderr).not.toContain('Permission denied');
    expect(res.status).toBe(0);
    expect(JSON.parse(res.stdout)).toHaveProperty('nvmlProblem');
  });

  it('require("gpu-arbiter") works from CommonJS', () => {
    const res = node([
      '-e',
      `const m = require('gpu-arbiter');
       console.log(typeof m.GpuMonitor, typeof m.GpuArbiterError, new m.GpuArbiterError('E_BUSY', 'x').code);`,
    ]);
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe('function function E_BUSY');
  });

  it('import { ... } from "gpu-arbiter" works from an ES module with named exports', () => {
    const res = node([
      '--input-type=module',
      '-e',
      `import { GpuMonitor, GpuArbiterError, isGpuArbiterError } from 'gpu-arbiter';
       const m = await GpuMonitor.create({ libraryPath: '/nonexistent/libnvidia-ml.so.1' });
       console.log(m.available, isGpuArbiterError(new GpuArbiterError('E_TIMEOUT', 'x'), 'E_TIMEOUT'));
       await m.stop();`,
    ]);
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe('false true');
  });
});
