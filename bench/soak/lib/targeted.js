'use strict';
// Targeted checks: the reproducers in ../repro/, each a fault the random chaos meets only by
// chance (a race), run deterministically on every soak so that a run, quick ones in CI included,
// fails for as long as one still reproduces. Exit 0: fixed; 1: reproduced; else broken.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const DIR = path.join(__dirname, '..', 'repro');

function runTargeted() {
  const results = [];
  for (const file of fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.js'))
    .sort()) {
    const r = spawnSync(process.execPath, [path.join(DIR, file)], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    const said = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').pop();
    const outcome = r.status === 0 ? 'fixed' : r.status === 1 ? 'reproduced' : `did not run (${r.signal ?? `exit ${r.status}`})`;
    results.push({ file: `bench/soak/repro/${file}`, outcome, said });
  }
  return results;
}

module.exports = { runTargeted };
