import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigStore, Logger, PorticoConfig, normalizePrefix } from '@portico/core';
import { ConfigSync, NodeHeartbeat, SnapshotWriter, readSnapshot } from '@portico/gateway';

/**
 * What a data plane adds when it runs against etcd (SPEC §5.5, §10): a node identity, the
 * local snapshot it starts from when etcd is unreachable, and its registry heartbeat.
 * Embedded mode needs none of it: the store is the local disk and there is one node.
 */

export const SNAPSHOT_FILE = 'config-snapshot.json';
export const NODE_ID_FILE = 'node.id';

/** Package version, reported in the registry; the same file is next to src/ and dist/. */
function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * The node id: `PORTICO_NODE_ID` if set (a StatefulSet or compose service name), else the one
 * kept in `<data_dir>/node.id`, else a new `<hostname>-<random>` written there — so a restarted
 * node keeps its registry entry rather than leaving a ghost until the old lease expires.
 */
export function resolveNodeId(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.PORTICO_NODE_ID?.trim();
  if (fromEnv) return fromEnv;
  const file = path.join(dataDir, NODE_ID_FILE);
  try {
    const kept = fs.readFileSync(file, 'utf8').trim();
    if (kept) return kept;
  } catch {
    // first start
  }
  const id = `${os.hostname()}-${randomBytes(3).toString('hex')}`.replace(/[^A-Za-z0-9._-]/g, '-');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, id + '\n');
  return id;
}

/**
 * Where the control plane can read this node's metrics: the configured listener, with the
 * host name in place of a wildcard address (which names no host to connect to).
 */
export function metricsAddress(config: PorticoConfig): string {
  const ip = config.metrics.ip ?? '127.0.0.1';
  const host = ip === '0.0.0.0' || ip === '::' ? os.hostname() : ip;
  return `${host.includes(':') ? `[${host}]` : host}:${config.metrics.port}`;
}

export interface ClusterNode {
  nodeId: string;
  stop(): Promise<void>;
}

/**
 * What the registry entry reports: by default the sync's own applied revision; a node with
 * workers passes the revision all its workers serve (WorkerHub.servedRevision/onServed).
 */
export interface ServedProgress {
  revision(): number;
  onApplied(listener: (revision: number, configChanged: boolean) => void): () => void;
}

/**
 * Call before the node's ConfigSync starts: seeds it from the snapshot (if any), then writes
 * the snapshot and the heartbeat as revisions are applied. A node with several workers has
 * one ConfigSync (in its primary), hence one registry entry and one snapshot.
 */
export function attachClusterNode(sync: ConfigSync, store: ConfigStore, config: PorticoConfig, dataDir: string, log: Logger, served?: ServedProgress): ClusterNode {
  const progress: ServedProgress = served ?? { revision: () => sync.appliedRevision, onApplied: (l) => sync.onApplied(l) };
  const prefix = normalizePrefix(config.deployment.etcd.prefix);
  const nodeId = resolveNodeId(dataDir);
  const file = path.join(dataDir, SNAPSHOT_FILE);
  const snap = readSnapshot(file, prefix, log.child({ component: 'snapshot' }));
  if (snap) sync.seed(snap.items, snap.revision);

  const writer = new SnapshotWriter({
    file,
    prefix,
    source: () => sync.storedItems(),
    logger: log.child({ component: 'snapshot' }),
  });
  const heartbeat = new NodeHeartbeat({
    store,
    prefix,
    nodeId,
    hostname: os.hostname(),
    version: packageVersion(),
    revision: () => progress.revision(),
    metricsAddress: metricsAddress(config),
    logger: log.child({ component: 'heartbeat', node_id: nodeId }),
  });
  // Only configuration moves the heartbeat: reacting to other nodes' heartbeats would loop.
  const unsubscribeSnapshot = sync.onApplied((_revision, configChanged) => {
    if (configChanged) writer.notify();
  });
  const unsubscribeHeartbeat = progress.onApplied((_revision, configChanged) => {
    if (configChanged) heartbeat.notify();
  });
  heartbeat.start();
  log.info({ node_id: nodeId, snapshot: file, snapshot_revision: snap?.revision }, 'data plane node registered');
  return {
    nodeId,
    async stop() {
      unsubscribeSnapshot();
      unsubscribeHeartbeat();
      await Promise.all([heartbeat.stop(), writer.stop()]);
    },
  };
}
