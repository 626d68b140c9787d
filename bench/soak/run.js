'use strict';
// `npm run soak [-- --quick] [-- --out FILE] [-- --host-only | --redis-only]`: the soak and chaos
// suite (docs/design.md, "Soak and chaos suite"). Host part (./host/part.js), then Redis part
// (./redis/part.js; skipped with a printed reason when redis-server is missing). Prints a summary;
// the full run also writes bench/results/soak-<date>.md (or --out FILE); --quick (CI, under two
// minutes) writes nothing. Exits 1 on any violation, unexpected error or leak.
const fs = require('node:fs');
const path = require('node:path');
const { machine, machineHeader } = require('../lib/machine');
const { runHostPart } = require('./host/part');
const { runRedisPart } = require('./redis/part');
const { hasRedis } = require('./redis/server');
const { hostLines, redisLines, targetedLines } = require('./report');
const { runTargeted } = require('./lib/targeted');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outIdx = args.indexOf('--out');
const m = machine();
const outFile = outIdx >= 0 ? path.resolve(args[outIdx + 1]) : quick ? null : path.join(__dirname, '..', 'results', `soak-${m.date}.md`);
const log = (s) => process.stderr.write(`${s}\n`);

async function main() {
  const started = Date.now();
  const sections = [];
  let failures = [];
  if (!args.includes('--redis-only')) {
    log(`soak: host part (${quick ? 'quick' : 'full'})`);
    const host = await runHostPart({ quick, log });
    failures = failures.concat(host.failures.map((f) => `host: ${f}`));
    sections.push(hostLines(host));
  }
  if (!args.includes('--redis-only')) {
    log('soak: targeted checks (bench/soak/repro/)');
    const targeted = runTargeted();
    for (const t of targeted) if (t.outcome !== 'fixed') failures.push(`targeted: ${t.file} ${t.outcome}: ${t.said}`);
    sections.push(targetedLines(targeted));
  }
  if (!args.includes('--host-only')) {
    if (hasRedis()) {
      log(`soak: redis part (${quick ? 'quick' : 'full'})`);
      const redis = await runRedisPart({ quick, log });
      failures = failures.concat(redis.failures.map((f) => `redis: ${f}`));
      sections.push(redisLines(redis));
    } else {
      log('soak: redis part skipped: redis-server or redis-cli not found');
      sections.push(['## Redis', '', 'Skipped: redis-server or redis-cli not found.']);
    }
  }
  const verdict = failures.length === 0 ? 'PASS: 0 overlaps, 0 leaks, no unexpected error' : `FAIL: ${failures.length} problem(s)`;
  const text = [
    `# Soak and chaos suite${quick ? ' (quick)' : ''}`,
    '',
    machineHeader(m),
    `- duration: ${((Date.now() - started) / 1000).toFixed(0)} s`,
    `- verdict: ${verdict}`,
    '',
    ...sections.flatMap((s) => [...s, '']),
    ...(failures.length > 0 ? ['## Problems', '', ...failures.map((f) => `- ${f}`), ''] : []),
  ].join('\n');
  process.stdout.write(`${text}\n`);
  if (outFile !== null) {
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, text);
    log(`soak: wrote ${path.relative(process.cwd(), outFile)}`);
  }
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main().catch((err) => {
  log(`soak: ${err?.stack ?? err}`);
  process.exitCode = 1;
});
