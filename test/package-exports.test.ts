// The public surface of the built package (dist/), as a user's process sees it: the runtime names
// `require('gpu-arbiter')` exports, and what loading it and using a non-Redis backend pulls in.
// (test/package-entry.test.ts checks that the CommonJS and ES module entry points work at all.)
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');

/**
 * The runtime exports of require('gpu-arbiter'), sorted: the public API as of commit c5661d8 (the
 * same as at 061b51e, before the redesign of issue 12). A name that goes missing breaks users; a
 * new one is a public API decision: change this list on purpose, in the same commit.
 */
const EXPORTED_NAMES = [
  'AlertKinds',
  'BusyPolicies',
  'CriticalLog',
  'ErrorCodes',
  'GpuArbiter',
  'GpuArbiterError',
  'GpuMonitor',
  'HostBackend',
  'HostGrant',
  'HostLedger',
  'Lease',
  'LocalBackend',
  'MAX_PRIORITY',
  'NodeRegistry',
  'Outcomes',
  'PROM_CONTENT_TYPE',
  'Pipeline',
  'RedisBackend',
  'RedisLeases',
  'SimulatedGpu',
  'addonInfo',
  'collectCluster',
  'formatCluster',
  'formatHostLedgers',
  'formatPrometheus',
  'hostLedgersToJson',
  'hostNamespacePath',
  'inspectHostNamespace',
  'isGpuArbiterError',
  'leaseTraceparent',
  'listHostNamespaces',
  'readHostLedgers',
  'registerMetrics',
  'removeHostNamespace',
];

/** Runs `node <args>` in the repository root; its last stdout line is JSON. */
function nodeJson(args: string[]): unknown {
  const res = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 20_000 });
  expect(res.stderr).toBe('');
  expect(res.status).toBe(0);
  const lines = res.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

describe('package exports', () => {
  it("require('gpu-arbiter') resolves to dist/index.js and exports exactly the listed names", () => {
    expect([...EXPORTED_NAMES].sort()).toEqual(EXPORTED_NAMES); // the list itself stays sorted
    const out = nodeJson(['-e', `console.log(JSON.stringify({ file: require.resolve('gpu-arbiter'), names: Object.keys(require('gpu-arbiter')).sort() }));`]);
    expect(out).toEqual({ file: path.join(dist, 'index.js'), names: EXPORTED_NAMES });
  });

  it('an ES module import sees the same names as named exports', () => {
    const out = nodeJson([
      '--input-type=module',
      '-e',
      `import * as m from 'gpu-arbiter';
       console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule').sort()));`,
    ]);
    expect(out).toEqual(EXPORTED_NAMES);
  });
});

// Issue 12, rule 5: only backends/redis/** imports ioredis, so a user who never touches Redis
// does not load it. Each check runs in a fresh process and then reads require.cache: how many
// files under node_modules/ioredis/ are in it, and which other modules required them (so that a
// failure names the import to make lazy).
describe('ioredis is loaded only for Redis', () => {
  const ioredisLoaded = `(() => {
    const isIoredis = (f) => f.includes('/node_modules/ioredis/');
    const files = Object.keys(require.cache).filter(isIoredis);
    const loadedBy = Object.values(require.cache)
      .filter((m) => !isIoredis(m.filename) && m.children.some((c) => isIoredis(c.filename)))
      .map((m) => require('node:path').relative(${JSON.stringify(root)}, m.filename));
    return { ioredisFiles: files.length, loadedBy };
  })()`;

  it("require('gpu-arbiter') alone does not load ioredis", () => {
    const out = nodeJson(['-e', `require(${JSON.stringify(dist)}); console.log(JSON.stringify(${ioredisLoaded}));`]);
    expect(out).toEqual({ ioredisFiles: 0, loadedBy: [] });
  });

  it("an arbiter with backend 'local' over a SimulatedGpu, created, used and closed, does not load ioredis", () => {
    const out = nodeJson([
      '-e',
      `const { GpuArbiter, SimulatedGpu } = require(${JSON.stringify(dist)});
       (async () => {
         const a = await GpuArbiter.create({
           backend: 'local',
           monitor: new SimulatedGpu([{ totalMiB: 16384 }]),
           policies: { JOB: { priority: 50, vramMiB: 1024 } },
         });
         const lease = await a.acquire('JOB');
         await lease.release();
         await a.close();
         console.log(JSON.stringify(${ioredisLoaded}));
       })().catch((err) => { console.error(err); process.exit(1); });`,
    ]);
    expect(out).toEqual({ ioredisFiles: 0, loadedBy: [] });
  });
});

// Issue 18, part 2: @opentelemetry/api is an optional peer dependency, loaded only for `otel`.
describe('@opentelemetry/api is loaded only for options.otel', () => {
  const otelLoaded = `Object.keys(require.cache).filter((f) => f.includes('/node_modules/@opentelemetry/')).length`;
  const arbiterWith = (otel: string): string => `const { GpuArbiter, SimulatedGpu } = require(${JSON.stringify(dist)});
       (async () => {
         const out = {};
         try {
           const a = await GpuArbiter.create({ monitor: new SimulatedGpu([{ totalMiB: 16384 }]), policies: { JOB: { priority: 50, vramMiB: 1024 } }${otel} });
           await (await a.acquire('JOB')).release();
           await a.close();
           out.created = true;
         } catch (err) { out.error = { code: err.code, message: err.message }; }
         out.otelFiles = ${otelLoaded};
         console.log(JSON.stringify(out));
       })();`;
  // Makes @opentelemetry/api unresolvable, as on a machine where it is not installed.
  const hideOtel = `const M = require('node:module'); const resolve = M._resolveFilename;
       M._resolveFilename = function (request, ...rest) {
         if (request.startsWith('@opentelemetry/')) { const e = new Error("Cannot find module '" + request + "'"); e.code = 'MODULE_NOT_FOUND'; throw e; }
         return resolve.call(this, request, ...rest);
       };`;

  it("require('gpu-arbiter') and an arbiter without otel, used and closed, load none of it", () => {
    expect(nodeJson(['-e', arbiterWith('')])).toEqual({ created: true, otelFiles: 0 });
  });

  it('without the package installed: no otel works; otel: true fails at create() naming the package', () => {
    expect(nodeJson(['-e', hideOtel + arbiterWith('')])).toEqual({ created: true, otelFiles: 0 });
    const out = nodeJson(['-e', hideOtel + arbiterWith(', otel: true')]) as { error: { code: string; message: string } };
    expect(out.error.code).toBe('E_INVALID_ARGUMENT');
    expect(out.error.message).toContain('npm install @opentelemetry/api');
  });

  it('otel: true loads it (the global no-op providers when no SDK is registered)', () => {
    const out = nodeJson(['-e', arbiterWith(', otel: true')]) as { created: boolean; otelFiles: number };
    expect(out.created).toBe(true);
    expect(out.otelFiles).toBeGreaterThan(0);
  });
});

// Issue 18, part 3: the `gpu-arbiter/bullmq` subpath export; bullmq is an optional peer dependency.
describe('gpu-arbiter/bullmq', () => {
  const bullmqFiles = `Object.keys(require.cache).filter((f) => f.includes('/node_modules/bullmq/')).length`;

  it('resolves to dist/bullmq/index.js and exports GpuWorker; the main entry loads no bullmq', () => {
    const out = nodeJson([
      '-e',
      `require('gpu-arbiter'); const before = ${bullmqFiles};
       const m = require('gpu-arbiter/bullmq');
       console.log(JSON.stringify({ file: require.resolve('gpu-arbiter/bullmq'), names: Object.keys(m).sort(), before, after: ${bullmqFiles} }));`,
    ]);
    expect(out).toEqual({ file: path.join(dist, 'bullmq/index.js'), names: ['GpuWorker'], before: 0, after: 0 });
  });

  it('an ES module import sees GpuWorker too', () => {
    const out = nodeJson(['--input-type=module', '-e', `import { GpuWorker } from 'gpu-arbiter/bullmq'; console.log(JSON.stringify(typeof GpuWorker));`]);
    expect(out).toBe('function');
  });

  it('without bullmq installed: a GpuWorker fails at construction naming the package', () => {
    const out = nodeJson([
      '-e',
      `const M = require('node:module'); const resolve = M._resolveFilename;
       M._resolveFilename = function (request, ...rest) {
         if (request === 'bullmq') { const e = new Error("Cannot find module 'bullmq'"); e.code = 'MODULE_NOT_FOUND'; throw e; }
         return resolve.call(this, request, ...rest);
       };
       const { GpuWorker } = require('gpu-arbiter/bullmq');
       const arbiter = { acquire: async () => { throw new Error('unused'); }, policies: () => new Map([['OCR', {}]]) };
       try { new GpuWorker(arbiter, 'ocr', async () => 1, { connection: {}, task: 'OCR' }); console.log('null'); }
       catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })); }`,
    ]) as { code: string; message: string };
    expect(out.code).toBe('E_INVALID_ARGUMENT');
    expect(out.message).toContain('npm install bullmq');
  });
});
