import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { componentLogger, type ConfigStore, type FieldCipher, type Logger, type PorticoConfig } from '@portico/core';
import {
  configSyncFor,
  secretResolverFor,
  GatewayMetrics,
  MetricsServer,
  WorkerHub,
  createWorkerGateway,
  isPorticoMessage,
  mergeExpositions,
  type Channel,
  type PrimaryLink,
  type WorkerLink,
} from '@portico/gateway';
import { attachClusterNode } from './cluster-node';

/** `apisix.workers`: "auto" is one worker per CPU this process may use. */
export function workerCount(config: PorticoConfig): number {
  const w = config.apisix.workers;
  return w === 'auto' ? Math.max(1, os.availableParallelism()) : w;
}

/** A worker that crashes is replaced after this long, doubled per crash in a row (max 30 s). */
const RESPAWN_MS = 500;
const RESPAWN_MAX_MS = 30_000;
/** A worker alive this long has not crash-looped: the respawn delay starts over. */
const STABLE_MS = 10_000;

export interface WorkerPool {
  stop(): Promise<void>;
}

/**
 * The primary of a node with several proxy workers. It owns the one store watch (ConfigSync,
 * snapshot and registry heartbeat when on etcd) and the one secret cache, serves the node's
 * merged metrics, and forks the workers, which share the proxy and control ports through
 * node:cluster (connections are handed out round-robin by the primary).
 */
export async function startWorkerPool(opts: {
  config: PorticoConfig;
  store: ConfigStore;
  cipher?: FieldCipher;
  dataDir: string;
  count: number;
  log: Logger;
}): Promise<WorkerPool> {
  const { config, store, cipher, dataDir, count, log } = opts;
  const sync = configSyncFor(config, store, log, { cipher });
  const resolver = secretResolverFor(config, log);
  const hub = new WorkerHub({ sync, resolver, logger: log.child({ component: 'workers' }) });
  // The registry entry advertises the revision every worker serves, not just the primary's.
  const served = { revision: () => hub.servedRevision, onApplied: (l: (r: number, c: boolean) => void) => hub.onServed(l) };
  const node = config.deployment.config_provider === 'etcd' ? attachClusterNode(sync, store, config, dataDir, log, served) : undefined;
  hub.start();
  sync.start();

  const own = new GatewayMetrics({
    appliedRevision: () => sync.appliedRevision,
    watchResets: () => sync.resets,
    secretStats: () => resolver.stats(),
    rejectedItems: () => sync.rejectedItems().length,
    rejections: () => sync.rejections,
  });
  const metricsServer = new MetricsServer({ render: async () => mergeExpositions([own.render(), ...(await hub.collectMetrics())]) });
  const metricsPort = await metricsServer.listen(config.metrics.ip ?? '127.0.0.1', config.metrics.port);

  let stopping = false;
  let respawnDelay = RESPAWN_MS;
  const exits = new Map<Worker, Promise<void>>();

  const fork = () => {
    const worker = cluster.fork();
    const startedAt = Date.now();
    const detach = hub.attach(workerLink(worker));
    // Sends carry a callback (ipcLink); anything else the channel reports is logged, never left
    // as an unhandled 'error' event that would stop the primary and with it the node.
    worker.on('error', (err) => log.warn({ worker: worker.id, err: err.message }, 'proxy worker channel error'));
    exits.set(worker, new Promise((resolve) => worker.once('exit', (code, signal) => {
      detach();
      exits.delete(worker);
      resolve();
      if (stopping) return;
      log.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'proxy worker exited; starting a new one');
      respawnDelay = Date.now() - startedAt > STABLE_MS ? RESPAWN_MS : Math.min(respawnDelay * 2, RESPAWN_MAX_MS);
      setTimeout(() => {
        if (!stopping) fork();
      }, respawnDelay).unref();
    })));
    return worker;
  };
  const pool: WorkerPool = {
    async stop() {
      stopping = true;
      // Workers drain their in-flight requests (SIGTERM), then the primary lets go of the watch.
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      await Promise.all(exits.values());
      await metricsServer.close();
      await node?.stop();
      hub.stop();
      await sync.stop();
      resolver.close();
    },
  };
  const workers: Worker[] = [];
  for (let i = 0; i < count; i++) workers.push(fork());
  try {
    await waitListening(workers);
  } catch (err) {
    await pool.stop();
    throw err;
  }
  log.info({ workers: count, metricsPort }, 'proxy workers listening');
  return pool;
}

/** Resolves once every worker says it listens; rejects if one exits first. */
function waitListening(workers: Worker[]): Promise<void> {
  return Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
    const unsubscribe = workerLink(w).onMessage((m) => {
      if (m.t !== 'portico:listening') return;
      cleanup();
      resolve();
    });
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`a proxy worker exited during start-up (code ${code}, signal ${signal}); see its log above`));
    };
    const cleanup = () => {
      unsubscribe();
      w.off('exit', onExit);
    };
    w.on('exit', onExit);
  }))).then(() => undefined);
}

/**
 * One end of a node:cluster IPC channel (the primary's `Worker`, or a worker's `process`),
 * passing only Portico's messages.
 */
export function ipcLink<Out, In>(
  ep: NodeJS.EventEmitter & { send?(msg: unknown, handle: undefined, options: undefined, callback: (err: Error | null) => void): unknown },
  connected: () => boolean,
): Channel<Out, In> {
  return {
    send: (msg: Out) => {
      // The channel can close between the check and the write (a worker stopping while a status
      // push or a reply is on its way). Without a callback node reports that EPIPE as an 'error'
      // event on the Worker, which would take the primary down; a message to a process that is
      // going away is moot, so it is dropped.
      if (connected()) ep.send!(msg, undefined, undefined, dropOnClosedChannel);
    },
    onMessage: (handler) => {
      const f = (m: unknown) => {
        if (isPorticoMessage(m)) handler(m as In);
      };
      ep.on('message', f);
      return () => ep.off('message', f);
    },
  };
}

function dropOnClosedChannel(): void {
  // nothing to do: see ipcLink
}

const workerLink = (worker: Worker): WorkerLink => ipcLink(worker, () => worker.isConnected());
const primaryLink = (): PrimaryLink => ipcLink(process, () => process.connected === true);

/**
 * A proxy worker (a process forked by startWorkerPool): the data plane fed by the primary.
 * Stops (draining) on SIGTERM from the primary or when the primary goes away. Resolves when
 * the worker has stopped.
 */
export async function runWorker(config: PorticoConfig): Promise<void> {
  const log = componentLogger('worker').child({ worker: cluster.worker?.id });
  const link = primaryLink();
  const gateway = createWorkerGateway({ config, link, logger: log });
  const ports = await gateway.start();
  link.send({ t: 'portico:listening' });
  log.debug(ports, 'proxy worker listening');
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ why }, 'proxy worker stopping');
      gateway.stop().then(resolve, (err) => {
        log.error({ err }, 'proxy worker stop failed');
        resolve();
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    // Ctrl-C reaches the whole process group: the primary decides, and sends SIGTERM.
    process.on('SIGINT', () => undefined);
    process.on('disconnect', () => stop('primary gone'));
  });
}
