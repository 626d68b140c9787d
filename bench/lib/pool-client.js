'use strict';
// One client process of bench/cluster-pool.js: SUBMITTERS concurrent submitters, each asking for a
// job (sizes 1-40 GiB, gangs of 2 and 4, three priorities: seeded), holding it for a seeded time,
// releasing it, again, until the run's end. mode 'pool': RedisLeases.acquirePool (Redis places it
// on any live node that fits). mode 'naive': the baseline - a random node that could hold the job,
// then a random GPU (or N GPUs) of it, and wait there (node-scope acquire/acquireSet).
// Prints one JSON line: { waits: [[priority, ms]...], done: [per submitter], errors: { code: count } }.
const { RedisLeases } = require('../../dist');
const { mulberry32 } = require('../../dist/util/rng');

const cfg = JSON.parse(process.argv[2]);
const rng = mulberry32(cfg.seed);
const GiB = 1024;
const holder = { leaseId: 'b', task: 'bench', pid: process.pid };

function job() {
  const r = rng();
  const gpus = r < 0.1 ? 4 : r < 0.25 ? 2 : 1;
  const units = Math.ceil((1 + rng() * (gpus > 1 ? 19 : 39)) * GiB);
  const priority = [10, 50, 90][Math.floor(rng() * 3)];
  const holdMs = Math.round(-Math.log(1 - rng()) * cfg.meanHoldMs);
  return { gpus, units, priority, holdMs };
}

async function naiveAcquire(l, j) {
  const fits = cfg.nodes.filter((n) => n.sizes.filter((s) => s >= j.units).length >= j.gpus);
  const node = fits[Math.floor(rng() * fits.length)];
  const idx = node.sizes
    .map((s, i) => [s, i])
    .filter(([s]) => s >= j.units)
    .map(([, i]) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const k = Math.floor(rng() * (i + 1));
    [idx[i], idx[k]] = [idx[k], idx[i]];
  }
  const resources = idx.slice(0, j.gpus).map((i) => `${node.id}/gpu${i}`);
  const req = { units: j.units, priority: j.priority, holder, deadline: j.deadline };
  if (resources.length === 1) return [await l.acquire({ ...req, resource: resources[0] })];
  return l.acquireSet(resources, req);
}

(async () => {
  const l = await RedisLeases.open({ redis: cfg.redis, namespace: cfg.namespace, leaseTtlMs: 30_000 });
  const end = Date.now() + cfg.durationMs;
  const waits = [];
  const done = [];
  const errors = {};
  await Promise.all(
    Array.from({ length: cfg.submitters }, async (_, s) => {
      done[s] = 0;
      while (Date.now() < end) {
        const j = job();
        const t0 = performance.now();
        let grants;
        try {
          // Nothing is asked for past the run's end: a job still waiting then counts as E_TIMEOUT.
          const req = { ...j, deadline: end };
          grants =
            cfg.mode === 'pool'
              ? (await l.acquirePool({ units: j.units, gpus: j.gpus, priority: j.priority, holder, deadline: end })).grants
              : await naiveAcquire(l, req);
        } catch (e) {
          errors[e.code] = (errors[e.code] || 0) + 1;
          // As a service would: back off before asking a saturated Redis again.
          if (e.code === 'E_BACKEND_UNAVAILABLE') await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        waits.push([j.priority, Math.round(performance.now() - t0)]);
        await new Promise((r) => setTimeout(r, j.holdMs));
        await Promise.all(grants.map((g) => g.release()));
        done[s]++;
      }
    }),
  );
  await l.close();
  process.stdout.write(`${JSON.stringify({ waits, done, errors })}\n`);
})().catch((e) => {
  process.stdout.write(`${JSON.stringify({ fatal: String(e && e.message) })}\n`);
  process.exit(1);
});
