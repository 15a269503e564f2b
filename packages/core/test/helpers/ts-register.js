'use strict';
/**
 * Lets a plain `node` child process require the workspace's TypeScript sources directly
 * (there is no build for unit tests): `node -r .../ts-register.js script.js`.
 * Each .ts file is transpiled on load with TypeScript's transpileModule (no type-check),
 * mirroring what ts-jest does in the test process. `@portico/<pkg>` is mapped to
 * packages/<pkg>/src like jest's moduleNameMapper.
 */
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const ts = require('typescript');

const packagesDir = path.resolve(__dirname, '../../..');

const originalResolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const m = /^@portico\/([a-z]+)$/.exec(request);
  if (m) request = path.join(packagesDir, m[1], 'src');
  return originalResolve.call(this, request, ...rest);
};

require.extensions['.ts'] = function (module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      sourceMap: false,
    },
  });
  module._compile(outputText, filename);
};
