// Loading the addon: from the local build or a prebuild, and a failure that says what it tried.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonInfo } from '../src/native/addon';

const dist = path.resolve(__dirname, '../dist');

function loadIn(env: Record<string, string>) {
  return spawnSync(
    process.execPath,
    [
      '-e',
      `try { console.log(JSON.stringify(require(${JSON.stringify(dist)}).addonInfo())); }
       catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
    ],
    { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 },
  );
}

describe('native addon', () => {
  it('loads from the local build or a prebuild and says which', () => {
    const info = addonInfo();
    expect(info.file).toMatch(/\.node$/);
    expect(fs.existsSync(info.file)).toBe(true);
    expect(['prebuild', 'local-build']).toContain(info.origin);
  });

  it('GPU_ARBITER_ADDON naming a missing file fails with E_NATIVE_LOAD naming it', () => {
    const res = loadIn({ GPU_ARBITER_ADDON: '/nonexistent/gpu_arbiter.node' });
    const out = JSON.parse(res.stdout);
    expect(out.code).toBe('E_NATIVE_LOAD');
    expect(out.message).toContain('/nonexistent/gpu_arbiter.node');
  });

  it('a file that is not a loadable addon fails with E_NATIVE_LOAD naming the file and the fix', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-addon-'));
    const bogus = path.join(dir, 'gpu_arbiter.node');
    fs.writeFileSync(bogus, 'not an ELF file');
    try {
      const out = JSON.parse(loadIn({ GPU_ARBITER_ADDON: bogus }).stdout);
      expect(out.code).toBe('E_NATIVE_LOAD');
      expect(out.message).toContain(`Failed to load the native addon ${bogus}`);
      expect(out.message).toContain('npm rebuild gpu-arbiter');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('GPU_ARBITER_ADDON naming the real build loads it as an override', () => {
    const out = JSON.parse(loadIn({ GPU_ARBITER_ADDON: addonInfo().file }).stdout);
    expect(out).toEqual({ file: addonInfo().file, origin: 'override' });
  });
});
