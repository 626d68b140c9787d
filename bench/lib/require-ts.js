'use strict';
// Lets a benchmark require the TypeScript test helpers (the mock NVML driver) without a build
// step: .ts files are transpiled on load with the typescript devDependency (types are erased,
// not checked - vitest and tsc check them).
const fs = require('node:fs');
const ts = require('typescript');

if (!require.extensions['.ts']) {
  require.extensions['.ts'] = function compileTs(module, filename) {
    const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    module._compile(out.outputText, filename);
  };
}
