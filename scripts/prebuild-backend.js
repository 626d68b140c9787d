#!/usr/bin/env node
'use strict';
// prebuildify has no cmake-js backend: it runs this script in place of node-gyp
// (`prebuildify --node-gyp scripts/prebuild-backend.js`) with node-gyp's arguments
// (rebuild --target=X --arch=Y --release ...). We build with cmake-js for the same target;
// prebuildify then copies build/Release/*.node into prebuilds/<platform>-<arch>/.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const args = ['rebuild'];
for (const a of process.argv.slice(2)) {
  const m = /^--(target|arch)=(.+)$/.exec(a);
  if (m) args.push(`--${m[1] === 'target' ? 'runtime-version' : 'arch'}=${m[2]}`);
  if (a === '--debug') args.push('--debug');
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const res = spawnSync(process.execPath, [cmakeJs, ...args], {
  cwd: path.join(__dirname, '..'),
  stdio: 'inherit',
});
process.exit(res.status === null ? 1 : res.status);
