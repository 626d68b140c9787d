'use strict';
// `npm run bench [-- --quick]`: runs every benchmark in bench/ one after another, so their
// figures come from one sitting on one machine. Each writes bench/results/<name>-<date>.md.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const benches = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.js') && f !== 'run.js')
  .sort();
let failed = 0;
for (const file of benches) {
  process.stderr.write(`\n== ${file}\n`);
  const res = spawnSync(process.execPath, [path.join(__dirname, file), ...args], { stdio: 'inherit' });
  if (res.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
