// `doctor`: each check's verdict and fix, and the exit code (0 only when nothing FAILs).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../src/doctor/doctor';
import { HostLedger } from '../src/backends/host/ledger';
import { removeHostNamespace } from '../src/backends/host/namespaces';
import { hostLedgerChecks, redisChecks } from '../src/doctor/remote';
import { RedisServer } from './helpers/redis-server';
import { MockNvml, defaultDevice, type MockNvmlState } from './helpers/mock-nvml';

const cli = path.resolve(__dirname, '../dist/cli/main.js');
let nvml: MockNvml | undefined;
let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  nvml?.cleanup();
  nvml = undefined;
  restore = undefined;
});

function useMock(state: MockNvmlState): MockNvml {
  nvml = MockNvml.create(state);
  restore = nvml.apply();
  return nvml;
}

describe('doctor', () => {
  it('passes on a healthy mock host', async () => {
    useMock({ devices: [defaultDevice(0), defaultDevice(1)] });
    const report = await runDoctor({ hostNamespaces: [] });
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.id, c.verdict])).toEqual([
      ['addon', 'PASS'],
      ['nvml', 'PASS'],
      ['shm', 'PASS'],
      ['host-ledger', 'PASS'],
    ]);
    expect(report.checks[1].detail).toMatch(/2 GPU\(s\)/);
  });

  it('warns, with the fix, on persistence off, MIG on and no permission to read processes', async () => {
    useMock({
      devices: [defaultDevice(0, { persistence: false }), defaultDevice(1, { mig: true })],
      fail: { 'nvmlDeviceGetComputeRunningProcesses_v3.0': 4 },
    });
    const report = await runDoctor({ hostNamespaces: [] });
    expect(report.ok).toBe(true);
    const byId = Object.fromEntries(report.checks.map((c) => [c.id, c]));
    expect(byId['gpu.0.persistence']).toMatchObject({ verdict: 'WARN', fix: expect.stringContaining('nvidia-smi -pm 1') });
    expect(byId['gpu.1.mig']).toMatchObject({ verdict: 'WARN' });
    expect(byId['gpu.0.processes']).toMatchObject({ verdict: 'WARN', detail: 'GPU 0: no permission to read the compute processes' });
  });

  it('fails on a lost GPU and on an unwritable ledger directory', async () => {
    useMock({ devices: [defaultDevice(0), defaultDevice(1)], fail: { 'nvmlDeviceGetMemoryInfo_v2.1': 15 } });
    const report = await runDoctor({ shmDir: '/nonexistent-shm', hostNamespaces: [] });
    expect(report.ok).toBe(false);
    const failed = report.checks.filter((c) => c.verdict === 'FAIL').map((c) => c.id);
    expect(failed).toEqual(['gpu.1', 'shm']);
    expect(report.checks.find((c) => c.id === 'gpu.1')?.detail).toContain('NVML_ERROR_GPU_IS_LOST');
  });

  it('without NVML warns (the package still works) and says why', async () => {
    const report = await runDoctor({ libraryPath: '/nonexistent/libnvidia-ml.so.1', hostNamespaces: [] });
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.id === 'nvml')).toMatchObject({
      verdict: 'WARN',
      detail: expect.stringContaining('not found'),
      fix: expect.stringContaining('set GPU_ARBITER_NVML_LIB'), // here a library path is the fix
    });
  });

  it('a library that loads while the kernel driver is missing gets the driver fix (issue 16, defect 7)', async () => {
    const m = useMock({ devices: [defaultDevice(0)], fail: { nvmlInitWithFlags: 9 } });
    const report = await runDoctor({ hostNamespaces: [] });
    const check = report.checks.find((c) => c.id === 'nvml');
    expect(check?.verdict).toBe('WARN');
    expect(check?.detail).toContain(`${m.libraryPath} loaded, but the NVIDIA kernel driver is not loaded`);
    expect(check?.fix).toMatch(/^load the NVIDIA kernel driver/);
    expect(check?.fix).not.toMatch(/set GPU_ARBITER_NVML_LIB/);
  });

  it('a library that does not match the loaded driver is told to match them', async () => {
    useMock({ devices: [defaultDevice(0)], fail: { nvmlInitWithFlags: 18 } });
    const check = (await runDoctor({ hostNamespaces: [] })).checks.find((c) => c.id === 'nvml');
    expect(check?.detail).toContain('does not match the loaded kernel driver');
    expect(check?.fix).toMatch(/reboot .*GPU_ARBITER_NVML_LIB/);
  });

  it('the CLI exits 1 when a check FAILs and 0 otherwise; --json prints the report', async () => {
    const m = MockNvml.create({ devices: [defaultDevice(0)], fail: { nvmlDeviceGetName: 15 } });
    nvml = m;
    const ns = `doctor-cli-${process.pid}`;
    const ledger = await HostLedger.open({ namespace: ns, resources: { 'gpu:0': 1024 } });
    try {
      const args = [cli, 'doctor', '--host-namespace', ns];
      const bad = spawnSync(process.execPath, args, { env: { ...process.env, ...m.env() }, encoding: 'utf8' });
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(/^FAIL {2}gpu\.0 /m);
      expect(bad.stdout).toMatch(new RegExp(`^PASS {2}host-ledger\\.${ns} `, 'm'));
      // By name, not by count: a check added to doctor later must not break this test.
      const verdicts = [...bad.stdout.matchAll(/^(PASS|WARN|FAIL) {2}(\S+)/gm)].map((m) => ({ verdict: m[1]!, id: m[2]! }));
      const ids = (verdict: string) => verdicts.filter((c) => c.verdict === verdict).map((c) => c.id);
      expect(ids('FAIL')).toEqual(['gpu.0']);
      expect(ids('WARN')).toEqual([]);
      expect(ids('PASS')).toEqual(expect.arrayContaining(['addon', 'nvml', 'shm', `host-ledger.${ns}`]));
      // The summary line tallies the lines above it.
      const summary = bad.stdout.match(/^(\d+) FAIL, (\d+) WARN, (\d+) PASS$/m);
      expect(summary?.slice(1).map(Number)).toEqual([ids('FAIL').length, ids('WARN').length, ids('PASS').length]);
      m.update((s) => {
        s.fail = {};
      });
      const good = spawnSync(process.execPath, [...args, '--json'], { env: { ...process.env, ...m.env() }, encoding: 'utf8' });
      expect(good.status).toBe(0);
      expect(JSON.parse(good.stdout).ok).toBe(true);
    } finally {
      await ledger.close();
      removeHostNamespace(ns);
    }
  });

  it('host ledgers: each readable one PASSes; an unreadable one FAILs with the fix', async () => {
    const ns = `doctor-ledger-${process.pid}`;
    const ledger = await HostLedger.open({ namespace: ns, resources: { 'gpu:0': 1024 } });
    try {
      const ok = await hostLedgerChecks([ns]);
      expect(ok).toEqual([expect.objectContaining({ id: `host-ledger.${ns}`, verdict: 'PASS', detail: expect.stringContaining('1 resource(s)') })]);
    } finally {
      await ledger.close();
      removeHostNamespace(ns);
    }
    const gone = await hostLedgerChecks([`${ns}-missing`]);
    expect(gone).toEqual([expect.objectContaining({ verdict: 'FAIL', fix: expect.stringContaining("backend 'host'") })]);
  });

  describe('--redis', () => {
    let server: RedisServer;
    beforeAll(async () => {
      server = await RedisServer.start();
    }, 20_000);
    afterAll(async () => {
      await server.stop();
    });

    it('reports the version and standalone mode, and a small clock skew as PASS', async () => {
      const checks = await redisChecks({ url: server.url });
      expect(checks[0]).toMatchObject({ id: 'redis', verdict: 'PASS', detail: expect.stringMatching(/^Redis \d+\.\d+\.\d+ at .*standalone/) });
      expect(checks[1]).toMatchObject({ id: 'redis.clock-skew', verdict: 'PASS' });
    });

    it('warns, with the fix, when this host is 5 s off Redis', async () => {
      const checks = await redisChecks({ url: server.url, now: () => Date.now() + 5000 });
      expect(checks[1]).toMatchObject({ verdict: 'WARN', detail: expect.stringMatching(/ahead of Redis/), fix: expect.stringContaining('NTP') });
      const behind = await redisChecks({ url: server.url, now: () => Date.now() - 5000 });
      expect(behind[1]).toMatchObject({ id: 'redis.clock-skew', verdict: 'WARN' });
      // The skew is Redis's TIME minus the midpoint of the round trip, so it can be off the true
      // 5000 ms by at most half the round trip (plus 1 ms for Date.now()'s whole milliseconds and
      // rounding); the bound follows the round trip the check itself reports, however slow.
      const m = behind[1]!.detail.match(/^this host's clock is (\d+) ms behind Redis's \(round trip (\d+) ms\)$/);
      expect(m).not.toBeNull();
      const [skewMs, rttMs] = [Number(m![1]), Number(m![2])];
      expect(Math.abs(skewMs - 5000)).toBeLessThanOrEqual(rttMs / 2 + 2);
    });

    it('FAILs when Redis is unreachable, without printing the password; runDoctor then is not ok', async () => {
      const report = await runDoctor({ hostNamespaces: [], redis: 'redis://:secret@127.0.0.1:1', redisTimeoutMs: 500, libraryPath: '/nonexistent/lib.so' });
      const r = report.checks.find((c) => c.id === 'redis')!;
      expect(r).toMatchObject({ verdict: 'FAIL', fix: expect.stringContaining('redis-server') });
      expect(r.detail).not.toContain('secret');
      expect(report.ok).toBe(false);
    });
  });
});
