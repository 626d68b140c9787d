'use strict';
// The host request path before and after a change, in one run on one machine: GpuArbiter with
// backend 'host', uncontended acquire+release, timed in child processes that alternate between
// two builds (each a package root with dist/ and its own addon), so both see the same machine
// state. Issue 12 (the redesign) asked for this figure; any later change of the path can reuse it.
// Usage: node bench/host-path.js --before /path/to/old/checkout [--after .] [--rounds 7] [--n 100000]
//        [--label-before TEXT] [--label-after TEXT] [--out file.md]
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { machineHeader } = require('./lib/machine');

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const before = arg('--before', null);
if (before === null) {
  console.error('Usage: node bench/host-path.js --before <checkout of the old build> [--after <checkout>] [--rounds 7] [--n 100000]');
  process.exit(2);
}
const after = path.resolve(arg('--after', path.join(__dirname, '..')));
const rounds = Number(arg('--rounds', '7'));
const n = Number(arg('--n', '100000'));
const labels = { before: arg('--label-before', path.resolve(before)), after: arg('--label-after', after) };
const out = arg('--out', path.join(__dirname, 'results', `host-path-${new Date().toISOString().slice(0, 10)}.md`));

function once(root) {
  const stdout = execFileSync(process.execPath, [path.join(__dirname, 'lib', 'host-arbiter-loop.js'), root, String(n)], { encoding: 'utf8' });
  return JSON.parse(stdout.trim().split('\n').pop()).us;
}

const runs = { before: [], after: [] };
for (let r = 0; r < rounds; r++) {
  // Alternate which goes first, so neither always runs on a warmer machine.
  const order = r % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
  for (const which of order) runs[which].push(once(which === 'before' ? path.resolve(before) : after));
  console.error(`round ${r + 1}/${rounds}: before ${runs.before.at(-1).toFixed(3)} us, after ${runs.after.at(-1).toFixed(3)} us`);
}
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
const fmt = (xs) =>
  sorted(xs)
    .map((x) => x.toFixed(3))
    .join(', ');
const mb = median(runs.before);
const ma = median(runs.after);
const lines = [
  "# Host request path: GpuArbiter backend 'host', uncontended acquire+release, before and after",
  '',
  machineHeader(),
  `- load average at the end: ${require('node:os')
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
  `- method: ${rounds} rounds, each a child process per build timing ${n} awaited acquire+release pairs after ${n / 10} warm-up pairs; the two builds alternate which runs first`,
  `- before: ${labels.before}`,
  `- after: ${labels.after}`,
  '',
  '| build | median us per acquire+release | runs (us, sorted) |',
  '|---|---|---|',
  `| before | ${mb.toFixed(3)} | ${fmt(runs.before)} |`,
  `| after | ${ma.toFixed(3)} | ${fmt(runs.after)} |`,
  '',
  `after / before: ${(ma / mb).toFixed(2)}x the time (${((1 - ma / mb) * 100).toFixed(1)}% ${ma <= mb ? 'less' : 'more'})`,
  '',
];
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, lines.join('\n'));
console.log(lines.join('\n'));
