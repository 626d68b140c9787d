// The binding declares NVML's ABI itself (native/nvml/nvml_api.h) so that it builds without
// NVIDIA's headers. This compiles test/fixtures/nvml-layout/layout_check.cc against NVIDIA's own
// nvml.h (libnvidia-ml-dev, fetched by scripts/fetch-real-nvml.sh) with the system c++ and
// compares every struct size, field offset, constant and entry-point prototype, and the
// binding's return-name table against the header's nvmlReturn_t. GPU_ARBITER_NVML_HEADER may
// name another nvml.h (a newer CUDA's) to compare against as well.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addon } from '../src/native/addon';
import { realNvmlOrSkip } from './helpers/real-nvml';

const ROOT = path.resolve(__dirname, '..');
const SOURCE = path.join(ROOT, 'test/fixtures/nvml-layout/layout_check.cc');
const { real, skipReason } = realNvmlOrSkip('test/nvml-layout.test.ts');
const headers = [...(real ? [real.header.path] : []), ...(process.env.GPU_ARBITER_NVML_HEADER ? [process.env.GPU_ARBITER_NVML_HEADER] : [])];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-arbiter-layout-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Row {
  kind: string;
  name: string;
  ours: bigint;
  theirs: bigint;
}

function compileAndRun(header: string, i: number): Row[] {
  const exe = path.join(tmp, `layout-${i}`);
  const include = path.join(tmp, `include-${i}`); // the fixture includes <nvml.h>, whatever the file's name
  fs.mkdirSync(include);
  fs.copyFileSync(header, path.join(include, 'nvml.h'));
  const cc = spawnSync(
    'c++',
    ['-std=c++17', '-Wall', '-Wextra', '-Wno-deprecated-declarations', `-I${include}`, `-I${path.join(ROOT, 'native')}`, '-o', exe, SOURCE],
    { encoding: 'utf8' },
  );
  if (cc.error || cc.status !== 0) throw new Error(`c++ failed on ${SOURCE} with ${header}:\n${cc.stderr || cc.error?.message}`);
  const out = spawnSync(exe, { encoding: 'utf8' });
  expect(out.status, out.stderr).toBe(0);
  return out.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [kind, name, ours, theirs] = line.split('\t');
      return { kind, name, ours: BigInt(ours), theirs: BigInt(theirs) };
    });
}

/** Every NVML symbol the binding resolves with dlsym (string literals of native/nvml/nvml_library.cc). */
function resolvedSymbols(): string[] {
  const src = fs.readFileSync(path.join(ROOT, 'native/nvml/nvml_library.cc'), 'utf8');
  return [...new Set([...src.matchAll(/"(nvml[A-Za-z0-9_]+)"/g)].map((m) => m[1]))];
}

describe.skipIf(headers.length === 0)(`the binding's NVML ABI against NVIDIA's nvml.h${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  describe.each(headers.map((h, i) => ({ header: h, i })))('$header', ({ header, i }) => {
    const text = fs.readFileSync(header, 'utf8');
    const rows = compileAndRun(header, i);

    it('every size, offset and constant is NVIDIA’s; every buffer holds NVIDIA’s largest string', () => {
      const wrong = rows.filter((r) => r.kind !== 'function' && (r.kind === 'at-least' ? r.ours < r.theirs : r.ours !== r.theirs));
      expect(wrong).toEqual([]);
      for (const kind of ['sizeof', 'offsetof', 'constant', 'at-least']) expect(rows.some((r) => r.kind === kind)).toBe(true);
    });

    it('every entry point the binding resolves that this header declares has NVIDIA’s prototype', () => {
      const fns = new Map(rows.filter((r) => r.kind === 'function').map((r) => [r.name, r.theirs === 1n]));
      for (const sym of resolvedSymbols()) {
        const declared = new RegExp(`\\b${sym}\\s*\\(`).test(text);
        // A symbol newer than this header (nvmlDeviceGetTemperatureV before CUDA 12.8) cannot be checked here.
        if (!declared) continue;
        expect([sym, fns.get(sym)]).toEqual([sym, true]);
      }
      expect(fns.size).toBeGreaterThanOrEqual(20);
    });

    it("the binding's return names agree with the header's nvmlReturn_t", () => {
      const codes = [...text.matchAll(/^\s*(NVML_(?:SUCCESS|ERROR_[A-Z_]+))\s*=\s*(\d+)/gm)].map((m) => [Number(m[2]), m[1]] as const);
      expect(codes.length).toBeGreaterThan(25);
      const { returnName } = addon().nvml;
      expect(codes.map(([code]) => [code, returnName(code)])).toEqual(codes);
    });
  });
});
