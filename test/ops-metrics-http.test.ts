// Metrics over HTTP without a framework: arbiter.metricsHandler() on node:http, and the
// `gpu-arbiter metrics` command serving the host's view (NVML + host ledgers).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GpuArbiter } from '../src/arbiter/gpu-arbiter';
import { runMetricsCommand } from '../src/cli/metrics';
import { main } from '../src/cli/main';
import { removeHostNamespace } from '../src/backends/host/namespaces';
import { formatPrometheus } from '../src/metrics/prom-text';
import { fakeGpus, GiB } from './helpers/fake-monitor';
import { MockNvml, defaultDevice } from './helpers/mock-nvml';

let nvml: MockNvml | undefined;
let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  nvml?.cleanup();
  nvml = undefined;
  restore = undefined;
});

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Checks every non-comment line is `name{labels} value` and every family has HELP and TYPE. */
function expectValidExposition(text: string): void {
  const typed = new Set<string>();
  for (const line of text.trimEnd().split('\n')) {
    const t = /^# TYPE (\w+) (counter|gauge|histogram)$/.exec(line);
    if (t) typed.add(t[1]!);
    if (line.startsWith('#')) {
      expect(line).toMatch(/^# (HELP|TYPE) \w+ /);
      continue;
    }
    const m = /^(\w+?)(_bucket|_sum|_count)?(\{[^}]*\})? (-?[\d.e+-]+|NaN|\+Inf)$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(typed.has(m![1]!) || typed.has(m![1]! + (m![2] ?? '')), line).toBe(true);
  }
}

describe('formatPrometheus', () => {
  it('escapes label values and help, renders histograms with le buckets, +Inf, _sum and _count', () => {
    const text = formatPrometheus([
      { name: 'a_total', help: 'with \\ and\nnewline', type: 'counter', samples: [{ labels: { task: 'x"y\\z\n' }, value: 3 }] },
      {
        name: 'h_seconds',
        help: 'h',
        type: 'histogram',
        samples: [
          {
            labels: { task: 'T' },
            buckets: [
              [0.1, 1],
              [1, 2],
            ],
            sum: 0.7,
            count: 3,
          },
        ],
      },
    ]);
    expect(text).toBe(
      [
        '# HELP a_total with \\\\ and\\nnewline',
        '# TYPE a_total counter',
        'a_total{task="x\\"y\\\\z\\n"} 3',
        '# HELP h_seconds h',
        '# TYPE h_seconds histogram',
        'h_seconds_bucket{task="T",le="0.1"} 1',
        'h_seconds_bucket{task="T",le="1"} 2',
        'h_seconds_bucket{task="T",le="+Inf"} 3',
        'h_seconds_sum{task="T"} 0.7',
        'h_seconds_count{task="T"} 3',
        '',
      ].join('\n'),
    );
  });
});

describe('arbiter.metricsHandler()', () => {
  it('serves every metric in the text format on a bare node:http server; 405 for POST', async () => {
    const arbiter = await GpuArbiter.create({ monitor: fakeGpus({ totalMiB: 16 * GiB }), policies: { ASR: { priority: 90, vramMiB: 2 * GiB } } });
    const lease = await arbiter.acquire('ASR');
    await lease.release();
    const server = http.createServer(arbiter.metricsHandler());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const res = await get(port, '/metrics');
      expect(res.status).toBe(200);
      expect(res.type).toBe('text/plain; version=0.0.4; charset=utf-8');
      expectValidExposition(res.body);
      expect(res.body).toContain('gpu_arbiter_acquire_total{task="ASR",outcome="acquired"} 1');
      expect(res.body).toContain('gpu_arbiter_hold_seconds_count{task="ASR"} 1');
      expect(res.body).toContain(`gpu_memory_total_bytes{gpu="0"} ${16 * GiB * 1024 * 1024}`);
      expect((await get(port, '/metrics', 'POST')).status).toBe(405);
      expect(await get(port, '/metrics', 'HEAD')).toMatchObject({ status: 200, body: '' });
    } finally {
      server.close();
      await arbiter.close();
    }
  });
});

describe('gpu-arbiter metrics', () => {
  it('--once prints NVML GPUs and host ledgers in the text format', async () => {
    nvml = MockNvml.create({ devices: [defaultDevice(0)] });
    restore = nvml.apply();
    const ns = `metrics-test-${process.pid}`;
    const arbiter = await GpuArbiter.create({
      backend: 'host',
      namespace: ns,
      monitor: fakeGpus({ totalMiB: 16 * GiB }),
      policies: { T: { priority: 50, vramMiB: 1024 } },
    });
    const lease = await arbiter.acquire('T');
    let out = '';
    try {
      const code = await runMetricsCommand(['--once', '--host-namespace', ns], { out: { write: (s: string) => (out += s) }, err: { write: () => true } });
      expect(code).toBe(0);
    } finally {
      await lease.release();
      await arbiter.close();
      removeHostNamespace(ns);
    }
    expectValidExposition(out);
    expect(out).toContain('gpu_arbiter_nvml_available 1');
    expect(out).toMatch(/gpu_memory_total_bytes\{gpu="0"\} \d+/);
    expect(out).toMatch(new RegExp(`gpu_arbiter_host_used_mib\\{namespace="${ns}",resource="gpu:GPU-[^"]+"\\} 1024`));
    expect(out).toMatch(new RegExp(`gpu_arbiter_host_holders\\{namespace="${ns}",resource="[^"]+"\\} 1`));
  });

  it('--port serves /metrics and /healthz until stopped; a bad --port is E_INVALID_ARGUMENT (exit 2)', async () => {
    nvml = MockNvml.create({ devices: [defaultDevice(0)] });
    restore = nvml.apply();
    const stop = new AbortController();
    let port = -1;
    const done = runMetricsCommand(
      ['--port', '0', '--bind', '127.0.0.1', '--host-namespace', 'none-such'],
      { out: { write: () => true }, err: { write: () => true }, signal: stop.signal },
      (p) => (port = p),
    );
    while (port < 0) await new Promise((r) => setTimeout(r, 5));
    const res = await get(port, '/metrics');
    expect(res.status).toBe(200);
    expectValidExposition(res.body);
    expect(res.body).toContain('gpu_arbiter_host_ledger_readable{namespace="none-such"} 0');
    expect((await get(port, '/healthz')).body).toBe('ok\n');
    expect((await get(port, '/other')).status).toBe(404);
    stop.abort();
    expect(await done).toBe(0);
    const errs: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => {
      errs.push(s);
      return true;
    }) as never;
    try {
      expect(await main(['metrics', '--port', '70000'])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(errs.join('')).toContain('--port');
  });
});
