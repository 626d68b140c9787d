#!/usr/bin/env node
'use strict';
// npm "install" script. node-gyp-build's own install command only knows node-gyp, so we do
// its job for cmake-js: use a prebuild (or an existing local build) when one loads, else
// compile from source with cmake-js. Set npm_config_build_from_source=true (or
// GPU_ARBITER_BUILD_FROM_SOURCE=1) to skip the prebuild.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const truthy = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
const fromSource = truthy(process.env.npm_config_build_from_source) || truthy(process.env.GPU_ARBITER_BUILD_FROM_SOURCE);

if (!fromSource) {
  try {
    const file = require('node-gyp-build').resolve(root);
    require(file);
    console.log(`gpu-arbiter: using native addon ${path.relative(root, file)}`);
    process.exit(0);
  } catch (err) {
    const why = String(err && err.message).split('\n')[0];
    console.log(`gpu-arbiter: no loadable prebuild (${why}); building from source with cmake-js`);
  }
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const res = spawnSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: 'inherit' });
if (res.status !== 0) {
  console.error(
    'gpu-arbiter: building the native addon failed. It needs cmake >= 3.15 and a C++17 compiler ' +
      '(Debian/Ubuntu: apt-get install -y cmake g++). No GPU or CUDA toolkit is needed.',
  );
  process.exit(res.status === null ? 1 : res.status);
}
