// Builds the bench-only flock baseline addon with the system C compiler against Node's headers
// (node-api-headers from node_modules, or /usr/include/node). A plain `cc -shared` is enough for
// one C file and keeps flock out of the shipped addon and out of CMakeLists.txt.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function headersDir() {
  try {
    return require('node-api-headers').include_dir;
  } catch {
    return '/usr/include/node';
  }
}

function buildFlock() {
  const out = path.join(__dirname, 'build', 'flock.node');
  const src = path.join(__dirname, 'flock.c');
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(src).mtimeMs) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  execFileSync(process.env.CC || 'cc', ['-O2', '-shared', '-fPIC', '-I', headersDir(), src, '-o', out], { stdio: 'inherit' });
  return out;
}

module.exports = { buildFlock };
if (require.main === module) console.log(buildFlock());
