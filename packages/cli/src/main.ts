#!/usr/bin/env -S node --max-semi-space-size=32
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import cluster from 'node:cluster';
import { ConfigError, DataDirLockedError, componentLogger, loadConfig } from '@portico/core';
import { USAGE, parseArgs } from './args';
import { IdleGc } from './idle-gc';
import { applyV8Flags, missingNodeFlags } from './v8-flags';
import { startPortico } from './start';
import { runWorker } from './workers';

const log = componentLogger('cli');

/** Errors the operator can fix: one clear line, no stack. */
function isOperatorError(err: unknown): boolean {
  return err instanceof ConfigError || err instanceof DataDirLockedError || (err as Error)?.name === 'ConfigError';
}

async function main(): Promise<number> {
  applyV8Flags();
  const args = parseArgs(process.argv.slice(2));
  if (args.command === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const config = loadConfig(args.configPath);
  if (args.command === 'validate') {
    process.stdout.write(`${args.configPath}: ok\n`);
    return 0;
  }
  // Every process of the node (single, primary, worker) gives memory back when it goes quiet.
  if (config.apisix.idle_gc) new IdleGc().start();
  const missing = missingNodeFlags();
  if (missing.length > 0 && !cluster.isWorker) {
    log.info({ flags: missing }, 'started without the node flags `make run` and the image use: under load, more young-generation collections delay requests (README, "Tail latency")');
  }
  // A proxy worker forked by the primary (apisix.workers > 1) runs the same command line.
  if (cluster.isWorker) {
    await runWorker(config);
    return 0;
  }
  // Signals are handled from the start: one that arrives while the node is still starting (its
  // workers not all up yet) stops it as soon as it is up, rather than killing it half-started.
  let signalled: NodeJS.Signals | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = signal;
    log.info({ signal }, 'stopping');
    wake?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const running = await startPortico(config, log);
  if (!signalled) await new Promise<void>((resolve) => (wake = resolve));
  try {
    await running.stop();
  } catch (err) {
    log.error({ err }, 'stop failed');
  }
  log.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (isOperatorError(err)) process.stderr.write(`portico: ${(err as Error).message}\n`);
    else log.fatal({ err }, 'portico failed');
    // pino writes asynchronously to stdout; give it a tick to flush before exiting.
    setImmediate(() => process.exit(1));
  },
);
