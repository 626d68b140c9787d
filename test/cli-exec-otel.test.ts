// Issue 18, part 2: `gpu-arbiter exec` passes the trace context to its command. The built CLI
// runs as a real child process over a mock GPU; a preloaded script (what a user's tracing setup
// does) registers an SDK tracer provider that writes each span to a file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mockGpu, repoRoot, runExec } from './fixtures/exec/harness';
import { removeTestNamespaces, uniqueNamespace } from './helpers/host-ns';
import type { MockNvml } from './helpers/mock-nvml';

const CALLER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const register = path.join(repoRoot, 'test/fixtures/otel/register-tracing.cjs');

let nvml: MockNvml;
let dir: string;
beforeAll(() => {
  nvml = mockGpu();
});
afterEach(() => {
  removeTestNamespaces();
  fs.rmSync(dir, { recursive: true, force: true });
});
afterAll(() => nvml.cleanup());

function setup(tag: string): { env: Record<string, string>; out: string; spans: string } {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpa-exec-otel-'));
  const env = { ...nvml.env(), GPU_ARBITER_NAMESPACE: uniqueNamespace(`exec-otel-${tag}`) };
  return { env, out: path.join(dir, 'traceparent'), spans: path.join(dir, 'spans.jsonl') };
}

interface SpanLine {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  attributes: Record<string, unknown>;
}

describe('gpu-arbiter exec: trace context', () => {
  it('with a tracer provider registered: spans under the caller’s TRACEPARENT, the command gets the gpu.lease span’s', async () => {
    const { env, out, spans } = setup('sdk');
    const res = await runExec(['--vram', '2000', '--', 'sh', '-c', `printf %s "$TRACEPARENT" > ${out}`], {
      ...env,
      TRACEPARENT: CALLER,
      NODE_OPTIONS: `--require ${register}`,
      OTEL_TEST_SPANS: spans,
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = fs
      .readFileSync(spans, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as SpanLine);
    const acquire = lines.find((s) => s.name === 'gpu.acquire')!;
    const lease = lines.find((s) => s.name === 'gpu.lease')!;
    expect(acquire).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7' });
    expect(acquire.attributes).toMatchObject({ 'gpu.task': 'EXEC', 'gpu.vram.requested_mib': 2000, 'gpu.outcome': 'acquired', 'gpu.device': 0 });
    expect(lease).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7' });
    expect(lease.attributes['gpu.lease.held_ms']).toBeTypeOf('number');
    expect(fs.readFileSync(out, 'utf8')).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${lease.spanId}-01`);
  });

  it('without a tracer provider: the caller’s TRACEPARENT reaches the command unchanged', async () => {
    const { env, out } = setup('plain');
    const res = await runExec(['--vram', '2000', '--', 'sh', '-c', `printf %s "$TRACEPARENT" > ${out}`], { ...env, TRACEPARENT: CALLER });
    expect(res.code).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe(CALLER);
  });

  it('no TRACEPARENT and no provider: the command gets none', async () => {
    const { env, out } = setup('none');
    const res = await runExec(['--vram', '2000', '--', 'sh', '-c', `printf %s "\${TRACEPARENT-unset}" > ${out}`], env);
    expect(res.code).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe('unset');
  });
});
