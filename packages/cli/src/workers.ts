import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { componentLogger, type ConfigStore, type FieldCipher, type Logger, type PorticoConfig } from '@portico/core';
import {
  ConfigSync,
  GatewayMetrics,
  MetricsServer,
  WorkerHub,
  createWorkerGateway,
  isPorticoMessage,
  mergeExpositions,
  type PrimaryLink,
  type ToPrimary,
  type ToWorker,
  type WorkerLink,
} from '@portico/gateway';
import { SecretResolver } from '@portico/secrets';
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
  const sync = new ConfigSync({ store, prefix: config.deployment.etcd.prefix, cipher, logger: log.child({ component: 'config-sync' }) });
  const secretCfg = config.apisix.lru.secret;
  const resolver = new SecretResolver({
    ttlSeconds: secretCfg.ttl,
    negTtlSeconds: secretCfg.neg_ttl,
    maxEntries: secretCfg.count,
    logger: log.child({ component: 'secrets' }),
  });
  const hub = new WorkerHub({ sync, resolver, logger: log.child({ component: 'workers' }) });
  // The registry entry advertises the revision every worker serves, not just the primary's.
  const served = { revision: () => hub.servedRevision, onApplied: (l: (r: number, c: boolean) => void) => hub.onServed(l) };
  const node = config.deployment.config_provider === 'etcd' ? attachClusterNode(sync, store, config, dataDir, log, served) : undefined;
  hub.start();
  sync.start();

  const own = new GatewayMetrics({ appliedRevision: () => sync.appliedRevision, watchResets: () => sync.resets, secretStats: () => resolver.stats() });
  const metricsServer = config.metrics ? new MetricsServer({ render: async () => mergeExpositions([own.render(), ...(await hub.collectMetrics())]) }) : undefined;
  const metricsPort = metricsServer ? await metricsServer.listen(config.metrics.ip ?? '127.0.0.1', config.metrics.port) : undefined;

  let stopping = false;
  let respawnDelay = RESPAWN_MS;
  const exits = new Map<Worker, Promise<void>>();

  const fork = () => {
    const worker = cluster.fork();
    const startedAt = Date.now();
    const detach = hub.attach(workerLink(worker));
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
      await metricsServer?.close();
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
    const onMessage = (m: unknown) => {
      if ((m as { t?: string } | null)?.t !== 'portico:listening') return;
      cleanup();
      resolve();
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`a proxy worker exited during start-up (code ${code}, signal ${signal}); see its log above`));
    };
    const cleanup = () => {
      w.off('message', onMessage);
      w.off('exit', onExit);
    };
    w.on('message', onMessage);
    w.on('exit', onExit);
  }))).then(() => undefined);
}

function workerLink(worker: Worker): WorkerLink {
  return {
    send: (msg: ToWorker) => {
      if (worker.isConnected()) worker.send(msg);
    },
    onMessage: (handler) => {
      const f = (m: unknown) => {
        if (isPorticoMessage(m)) handler(m as ToPrimary);
      };
      worker.on('message', f);
      return () => worker.off('message', f);
    },
  };
}

function primaryLink(): PrimaryLink {
  return {
    send: (msg: ToPrimary) => {
      if (process.connected) process.send!(msg);
    },
    onMessage: (handler) => {
      const f = (m: unknown) => {
        if (isPorticoMessage(m)) handler(m as ToWorker);
      };
      process.on('message', f);
      return () => process.off('message', f);
    },
  };
}

/**
 * A proxy worker (a process forked by startWorkerPool): the data plane fed by the primary.
 * Stops (draining) on SIGTERM from the primary or when the primary goes away. Resolves when
 * the worker has stopped.
 */
export async function runWorker(config: PorticoConfig): Promise<void> {
  const log = componentLogger('worker').child({ worker: cluster.worker?.id });
  const gateway = createWorkerGateway({ config, link: primaryLink(), logger: log });
  const ports = await gateway.start();
  process.send?.({ t: 'portico:listening' });
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
