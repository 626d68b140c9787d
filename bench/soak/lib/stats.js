'use strict';
// Distribution figures for the summary (nearest-rank percentiles).

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** { n, min, p50, p90, p99, max } of a list of numbers (nulls when empty). */
function distribution(values) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? null, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? null };
}

function fmtMs(v) {
  return v === null ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(0);
}

/** "n=12 min 1.2 p50 3.4 p90 ... max ... ms" */
function fmtDistribution(d, unit = 'ms') {
  if (d.n === 0) return 'n=0';
  return `n=${d.n} min ${fmtMs(d.min)} p50 ${fmtMs(d.p50)} p90 ${fmtMs(d.p90)} p99 ${fmtMs(d.p99)} max ${fmtMs(d.max)} ${unit}`;
}

module.exports = { distribution, fmtDistribution };
