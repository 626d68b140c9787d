'use strict';
// What the redis-server a bench started spent, read from its own INFO: CPU (used_cpu_sys +
// used_cpu_user, the whole process) and commands executed (INFO commandstats: every call,
// those run inside scripts included), and what clients sent (MONITOR: lines not run from Lua).
// The bench's own INFO, CONFIG and MONITOR traffic is left out.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const OWN = /^cmdstat_(info|config|monitor|client|hello|ping|select|quit)\b/;

function fields(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** { cpuS, calls }: the server's CPU seconds so far and the commands it executed (not ours). */
async function serverStats(admin) {
  const cpu = fields(await admin.info('cpu'));
  let calls = 0;
  for (const [k, v] of Object.entries(fields(await admin.info('commandstats')))) {
    const m = /calls=(\d+)/.exec(v);
    if (m && !OWN.test(k)) calls += Number(m[1]);
  }
  return { cpuS: Number(cpu.used_cpu_sys) + Number(cpu.used_cpu_user), calls };
}

/** Per-grant figures between two serverStats() snapshots. */
function perGrant(before, after, grants) {
  return {
    cpuUs: ((after.cpuS - before.cpuS) * 1e6) / Math.max(1, grants),
    executed: (after.calls - before.calls) / Math.max(1, grants),
  };
}

/**
 * Runs `work` while `redis-cli MONITOR` records the server's traffic; returns what `work`
 * returned with the commands clients sent (`client`) and those run inside scripts (`inScript`).
 */
async function monitored(port, work) {
  const file = path.join(os.tmpdir(), `gpa-monitor-${process.pid}-${Date.now()}.log`);
  const out = fs.openSync(file, 'w+');
  const monitor = spawn('redis-cli', ['-p', String(port), 'MONITOR'], { stdio: ['ignore', out, 'ignore'] });
  await new Promise((r) => setTimeout(r, 200));
  let result;
  try {
    result = await work();
  } finally {
    await new Promise((r) => setTimeout(r, 100));
    monitor.kill();
    await new Promise((r) => monitor.once('exit', r));
  }
  const text = fs.readFileSync(file, 'utf8');
  fs.closeSync(out);
  fs.rmSync(file, { force: true });
  let client = 0;
  let inScript = 0;
  for (const line of text.split('\n')) {
    if (/ \[\d+ lua\] /.test(line)) inScript++;
    else if (/ \[\d+ [\d.]+:\d+\] /.test(line)) client++;
  }
  return { result, client, inScript };
}

module.exports = { serverStats, perGrant, monitored };
