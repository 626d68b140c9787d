'use strict';
// What OpenTelemetry costs an acquire+release (issue 18, part 2), in one run: GpuArbiter with
// backend 'local' (the cheapest path, where any added cost shows most), uncontended, awaited
// acquire+release pairs, in three modes (bench/lib/otel-loop.js): no `otel` option; otel: true
// with no SDK registered; otel: true under an SDK that samples every span. Each round runs one
// child process per mode, the order rotating between rounds, so every mode sees the same machine.
// Usage: node bench/otel-overhead.js [--rounds 7] [--n 50000] [--out file.md]
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { machineHeader } = require('./lib/machine');

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const rounds = Number(arg('--rounds', '7'));
const n = Number(arg('--n', '50000'));
const out = arg('--out', path.join(__dirname, 'results', `otel-overhead-${new Date().toISOString().slice(0, 10)}.md`));
const MODES = [
  ['off', 'no otel option'],
  ['no-sdk', 'otel: true, @opentelemetry/api without an SDK'],
  ['sdk', 'otel: true under the SDK (every span sampled, metrics collected)'],
];

function once(mode) {
  const stdout = execFileSync(process.execPath, [path.join(__dirname, 'lib', 'otel-loop.js'), mode, String(n)], { encoding: 'utf8' });
  return JSON.parse(stdout.trim().split('\n').pop());
}

const loadBefore = os.loadavg()[0];
const runs = Object.fromEntries(MODES.map(([m]) => [m, []]));
const loaded = {};
for (let r = 0; r < rounds; r++) {
  const order = MODES.map((_, i) => MODES[(i + r) % MODES.length][0]);
  for (const mode of order) {
    const res = once(mode);
    runs[mode].push(res.us);
    loaded[mode] = res.otelLoaded;
  }
  console.error(`round ${r + 1}/${rounds}: ${MODES.map(([m]) => `${m} ${runs[m].at(-1).toFixed(3)} us`).join(', ')}`);
}
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
const base = median(runs.off);
const lines = [
  '# OpenTelemetry overhead: GpuArbiter acquire+release with and without `otel`',
  '',
  machineHeader(),
  `- 1-minute load average before / after: ${loadBefore.toFixed(2)} / ${os.loadavg()[0].toFixed(2)}`,
  `- method: ${rounds} rounds; each round one child process per mode (order rotating), each timing ${n} awaited uncontended acquire+release pairs after ${n / 10} warm-up pairs; backend 'local', one simulated 16 GiB GPU`,
  `- command: node bench/otel-overhead.js${args.length > 0 ? ` ${args.join(' ')}` : ''}`,
  '',
  '| mode | @opentelemetry loaded | median us per acquire+release | vs no otel | runs (us, sorted) |',
  '|---|---|---:|---:|---|',
];
for (const [mode, label] of MODES) {
  const m = median(runs[mode]);
  lines.push(
    `| ${label} | ${loaded[mode] ? 'yes' : 'no'} | ${m.toFixed(3)} | ${(m / base).toFixed(2)}x | ${sorted(runs[mode])
      .map((x) => x.toFixed(3))
      .join(', ')} |`,
  );
}
lines.push('');
lines.push('Without the option the arbiter reads one private field per acquire (src/arbiter/gpu-arbiter.ts) and loads no');
lines.push('OpenTelemetry module. Under an SDK each pair makes two spans (gpu.acquire, gpu.lease) and records two histogram values.');
lines.push('');
fs.writeFileSync(out, lines.join('\n'));
process.stdout.write(lines.join('\n'));
console.error(`wrote ${path.relative(process.cwd(), out)}`);
