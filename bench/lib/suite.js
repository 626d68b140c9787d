'use strict';
// Runs a benchmark.js suite and returns its rows: ops/s, the relative margin of error, the
// mean time per op and how many samples it took.
const Benchmark = require('benchmark');

function runSuite(name, cases, { minSamples = 20, maxTime = 3 } = {}) {
  return new Promise((resolve, reject) => {
    const suite = new Benchmark.Suite(name);
    for (const c of cases) {
      suite.add(c.name, c.fn, { defer: Boolean(c.defer), minSamples, maxTime, ...(c.options || {}) });
    }
    const rows = [];
    suite.on('cycle', (event) => {
      const b = event.target;
      if (b.error) return reject(b.error);
      const row = {
        name: b.name,
        opsPerSec: b.hz,
        rme: b.stats.rme,
        meanUs: b.stats.mean * 1e6,
        samples: b.stats.sample.length,
      };
      rows.push(row);
      process.stderr.write(`  ${String(b)}\n`);
    });
    suite.on('complete', () => resolve(rows));
    suite.on('error', (e) => reject(e.target && e.target.error ? e.target.error : e));
    suite.run({ async: true });
  });
}

function fmtOps(hz) {
  if (hz >= 1e6) return `${(hz / 1e6).toFixed(2)} M/s`;
  if (hz >= 1e3) return `${(hz / 1e3).toFixed(1)} k/s`;
  return `${hz.toFixed(1)} /s`;
}

function fmtUs(us) {
  if (us >= 1000) return `${(us / 1000).toFixed(2)} ms`;
  if (us >= 1) return `${us.toFixed(2)} us`;
  return `${(us * 1000).toFixed(0)} ns`;
}

module.exports = { runSuite, fmtOps, fmtUs };
