'use strict';
// The machine-readable side of every benchmark: rows of
//   { scope, case, library, metric, value, unit, better, spread, reps, note?, baseline?, samples? }
// scope: 'in-process' | 'cross-thread' | 'cross-process' | 'cross-host' | 'nvml-read' | 'ocr-pipeline'
// metric: 'ops/s' | 'p50' | 'p95' | 'p99' | 'mean' | 'median' | 'commands/handoff' | ...
// better: 'higher' | 'lower' (which way is good, for the ratio's reading)
// spread: { min, max, of } over the repetitions (or { rme } for benchmark.js), null when one value
// baseline: true on the gpu-arbiter row that peers in the same scope+case+metric are compared with
// value null + note: a library that cannot do this case (said in the table, not left out)
// A bench given `--json <file>` writes its rows there (bench/run.js merges them); each row is also
// announced on stderr as it is measured (the progress line per case).
const fs = require('node:fs');

function jsonTarget(argv = process.argv) {
  const i = argv.indexOf('--json');
  return i >= 0 ? argv[i + 1] : null;
}

function fmtValue(v, unit) {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
  if (unit === 'ops/s' || unit === '/s') {
    if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M/s`;
    if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k/s`;
    return `${v.toFixed(v >= 10 ? 0 : 2)} /s`;
  }
  if (unit === 'us') {
    if (v >= 1000) return `${(v / 1000).toFixed(2)} ms`;
    return `${v.toFixed(2)} us`;
  }
  if (unit === 'ms') return `${v.toFixed(v >= 100 ? 0 : 2)} ms`;
  return `${v.toFixed(2)}${unit ? ` ${unit}` : ''}`;
}

function fmtSpread(row) {
  const s = row.spread;
  if (!s) return '-';
  if (s.rme !== undefined) return `+/-${s.rme.toFixed(1)}%`;
  return `${fmtValue(s.min, row.unit)} - ${fmtValue(s.max, row.unit)}`;
}

class Rows {
  constructor(argv = process.argv) {
    this.file = jsonTarget(argv);
    this.rows = [];
  }

  add(row) {
    const r = { spread: null, reps: 1, ...row };
    this.rows.push(r);
    process.stderr.write(
      `  [${r.scope}] ${r.case} | ${r.library} | ${r.metric} ${r.value === null ? `n/a (${r.note || 'not measured'})` : `${fmtValue(r.value, r.unit)} (${fmtSpread(r)}, ${r.reps} reps)`}\n`,
    );
    return r;
  }

  write() {
    if (!this.file) return;
    fs.writeFileSync(this.file, JSON.stringify(this.rows, null, 1));
  }
}

// min/max/median of repetitions, as a row's value and spread.
function summary(values) {
  const xs = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return { value: null, spread: null, reps: 0 };
  return { value: xs[Math.floor(xs.length / 2)], spread: xs.length > 1 ? { min: xs[0], max: xs[xs.length - 1] } : null, reps: xs.length };
}

// Splits an array into k consecutive chunks of (nearly) equal length.
function chunks(xs, k) {
  const out = [];
  for (let i = 0; i < k; i++) out.push(xs.slice(Math.floor((i * xs.length) / k), Math.floor(((i + 1) * xs.length) / k)));
  return out.filter((c) => c.length > 0);
}

function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

module.exports = { Rows, summary, chunks, percentile, fmtValue, fmtSpread, jsonTarget };
