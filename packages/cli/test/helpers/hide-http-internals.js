// Preloaded (`node -r`) into a Portico process to play a Node.js that no longer offers the
// internals the own HTTP/1.1 stack rests on: `_http_common` (the parser binding both the own
// server and client need) cannot be loaded by Portico. node:http keeps its own reference, so
// it still works. Portico must fall back to node:http and undici.
'use strict';
const Module = require('node:module');
const load = Module._load;
Module._load = function hiddenLoad(request, ...rest) {
  if (request === '_http_common' || request === 'node:_http_common') {
    throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
  }
  return load.call(this, request, ...rest);
};
