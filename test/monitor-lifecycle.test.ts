// Start/stop, process exit and worker_threads: the sampler never keeps a process alive or
// crashes it on teardown.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GpuMonitor } from '../src/gpu/monitor';
import { defaultDevice } from './helpers/mock-nvml';
import { useMockMonitor } from './helpers/mock-monitor';

const fixture = useMockMonitor();
const dist = path.resolve(__dirname, '../dist');

function runNode(code: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['-e', code], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('monitor lifecycle', () => {
  it('can be stopped and started again', async () => {
    const m = await fixture.open({ devices: [defaultDevice(0)] });
    await m.stop();
    expect(m.isRunning).toBe(false);
    const last = m.snapshot();
    expect(last.available).toBe(true); // the last sample stays readable
    await m.start();
    const s = await m.sampleNow();
    expect(s.seq).toBeGreaterThan(last.seq);
  });

  it('a running monitor does not keep the process alive', async () => {
    await fixture.open({ devices: [defaultDevice(0)] });
    const res = runNode(
      `const { GpuMonitor } = require(${JSON.stringify(dist)});
       GpuMonitor.create({ intervalMs: 20 }).then((m) => console.log('started', m.available));`,
      fixture.nvml.env(),
    );
    expect(res.error).toBeUndefined(); // no spawnSync timeout: the process exited by itself
    expect(res.status).toBe(0);
    expect(res.stdout.trim()).toBe('started true');
  });

  it('worker_threads terminated while their monitors sample leave the process healthy (20 times)', async () => {
    await fixture.open({ devices: [defaultDevice(0)] });
    const res = runNode(
      `const { Worker } = require('node:worker_threads');
       const dist = ${JSON.stringify(dist)};
       const src = "const { GpuMonitor } = require(" + JSON.stringify(dist) + ");" +
         "GpuMonitor.create({ intervalMs: 10 }).then((m) => { require('node:worker_threads').parentPort.postMessage(m.available); });";
       let exits = 0;
       function once() {
         return new Promise((resolve, reject) => {
           const w = new Worker(src, { eval: true });
           w.on('message', () => w.terminate());
           w.on('error', reject);
           w.on('exit', () => { exits++; resolve(); });
         });
       }
       (async () => {
         for (let i = 0; i < 20; i++) await once();
         const { GpuMonitor } = require(dist);
         const m = await GpuMonitor.create({ intervalMs: 10 });
         console.log('exits', exits, 'main', m.available);
         await m.stop();
       })();`,
      fixture.nvml.env(),
    );
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout.trim()).toBe('exits 20 main true');
  });

  it('stop() of a never-started monitor is a no-op and sampleNow() says why it refuses', async () => {
    const m = new GpuMonitor({ libraryPath: '/nonexistent/libnvidia-ml.so.1' });
    await m.stop();
    expect(m.snapshot()).toMatchObject({ seq: 0, available: false, unavailableReason: 'the monitor has not been started' });
    await expect(m.sampleNow()).rejects.toMatchObject({ code: 'E_CLOSED' });
  });

  it("a 'sample' listener that throws surfaces as an uncaught exception, not a swallowed warning", async () => {
    await fixture.open({ devices: [defaultDevice(0)] });
    const res = runNode(
      `process.on('uncaughtException', (e) => { console.log('uncaught', e.message); process.exit(0); });
       const { GpuMonitor } = require(${JSON.stringify(dist)});
       setTimeout(() => { console.log('no exception surfaced'); process.exit(1); }, 5000);
       GpuMonitor.create({ intervalMs: 20 }).then((m) => m.on('sample', () => { throw new Error('listener boom'); }));`,
      fixture.nvml.env(),
    );
    expect(res.stdout.trim()).toBe('uncaught listener boom');
    expect(res.status).toBe(0);
    expect(res.stderr).not.toMatch(/DEP0168/);
  });
});
