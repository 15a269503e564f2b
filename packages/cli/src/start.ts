import { resolve } from 'node:path';
import { ConfigStore, Logger, PorticoConfig, fieldCipherFromConfig } from '@portico/core';
import { checkAdminListenSafety, resolveAdminKeys, startAdminServer } from '@portico/admin';
import { configSyncFor, createGateway } from '@portico/gateway';
import { attachClusterNode } from './cluster-node';
import { openStore } from './open-store';
import { startWorkerPool, workerCount } from './workers';

export interface RunningPortico {
  /** Graceful stop: gateway drains in-flight requests, admin closes, watch cancelled, store closed. */
  stop(): Promise<void>;
}

/**
 * Starts the parts the role asks for: traditional = admin + data plane in one process,
 * control_plane = admin only, data_plane = proxy only (it never writes configuration).
 */
export async function startPortico(config: PorticoConfig, log: Logger): Promise<RunningPortico> {
  const role = config.deployment.role;
  const runsAdmin = role !== 'data_plane';
  const runsGateway = role !== 'control_plane';
  // Refuse an unsafe admin listener before opening anything.
  if (runsAdmin) checkAdminListenSafety(config);

  const store: ConfigStore = await openStore(config);
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.error({ err }, 'error while stopping');
      }
    }
    await store.close();
  };

  try {
    const dataDir = resolve(config.deployment.embedded.data_dir);
    // After the store is open: in embedded mode the store's lock guards the generated keyring.
    const cipher = fieldCipherFromConfig(config, dataDir);
    if (runsAdmin) {
      const keys = resolveAdminKeys(config, dataDir);
      // The key itself is never printed or logged (SPEC §12): only where to read it.
      if (keys.generated) log.info({ keyFile: keys.keyFile }, 'generated an admin key; read it from the key file (mode 0600)');
      const admin = await startAdminServer({ store, config, adminKeys: keys.keys, cipher });
      stops.push(() => admin.close());
      log.info({ port: admin.port }, 'admin API listening');
    }
    if (runsGateway) {
      const workers = workerCount(config);
      if (workers > 1) {
        const pool = await startWorkerPool({ config, store, cipher, dataDir, count: workers, log });
        stops.push(() => pool.stop());
      } else {
        const sync = configSyncFor(config, store, log, { cipher });
        const gateway = createGateway({ source: sync, config });
        // Against etcd the data plane is one node of many: registry heartbeat and local snapshot.
        const node = config.deployment.config_provider === 'etcd' ? attachClusterNode(sync, store, config, dataDir, log) : undefined;
        stops.push(() => gateway.stop());
        // Pushed last, runs first: the node leaves the registry before it drains.
        if (node) stops.push(() => node.stop());
        const ports = await gateway.start();
        log.info(ports, 'data plane listening');
      }
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  log.info({ role, config_provider: config.deployment.config_provider }, 'portico started');
  return { stop: stopAll };
}
