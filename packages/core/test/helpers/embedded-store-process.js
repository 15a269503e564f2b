'use strict';
/**
 * A separate process that owns an EmbeddedStore, driven by the embedded-store tests.
 * Run with `node -r ./ts-register.js embedded-store-process.js <dataDir> <mode> [count]`:
 *   hold          open the store, print `ready <pid>`, then wait to be killed
 *   write <count> open, print `ready <pid>`, put /durable/0..count-1 one at a time and print
 *                 `acked <i>` as soon as each put resolves, then wait to be killed
 * Errors are printed as `error <name>: <message>` and exit with status 1.
 */
const { EmbeddedStore } = require('../../src/store/embedded-store.ts');

async function main() {
  const [dataDir, mode, count] = process.argv.slice(2);
  const store = await EmbeddedStore.open(dataDir);
  process.stdout.write(`ready ${process.pid}\n`);
  if (mode === 'write') {
    for (let i = 0; i < Number(count); i++) {
      await store.put(`/durable/${i}`, JSON.stringify({ i }));
      process.stdout.write(`acked ${i}\n`);
    }
  }
  setInterval(() => undefined, 60_000); // stay alive until killed
}

main().catch((err) => {
  process.stdout.write(`error ${err.name}: ${err.message}\n`);
  process.exit(1);
});
