import { ConfigStore, KeyValue, PorticoConfig, nodeKey } from '@portico/core';
import { clusterMetrics } from './cluster-metrics';
import { AdminError, badRequest, methodNotSupported } from './errors';
import type { Reply } from './handlers';

/**
 * `GET /apisix/admin/cluster/nodes` (SPEC §10): the data-plane registry. A node is live while
 * its leased key exists, so the list never shows a node that died more than a lease TTL ago.
 *
 * `?wait_revision=R[&timeout=S]` holds the answer until every live node reports
 * `config_revision >= R` — with R taken from a write's `X-Config-Revision`, the caller knows its
 * change is served everywhere — or answers 504 naming the nodes still behind after S seconds.
 */

const DEFAULT_TIMEOUT_S = 5;
const MAX_TIMEOUT_S = 60;
/** How often the registry is re-read while waiting; heartbeats are throttled to ~200 ms anyway. */
const POLL_MS = 50;

type Query = Record<string, string | string[] | undefined>;

interface NodeEntry {
  key: string;
  value: Record<string, unknown>;
  createdIndex: number;
  modifiedIndex: number;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function parseRevision(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw badRequest('invalid wait_revision: expected a non-negative integer');
  return Number(raw);
}

function parseTimeout(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_TIMEOUT_S;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_TIMEOUT_S) {
    throw badRequest(`invalid timeout: expected seconds between 0 and ${MAX_TIMEOUT_S}`);
  }
  return n;
}

function entryOf(kv: KeyValue): NodeEntry | undefined {
  try {
    const value = JSON.parse(kv.value) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    return { key: kv.key, value: value as Record<string, unknown>, createdIndex: kv.createRevision, modifiedIndex: kv.modRevision };
  } catch {
    return undefined; // not a heartbeat Portico wrote; not a node
  }
}

async function readNodes(store: ConfigStore, prefix: string): Promise<{ nodes: NodeEntry[]; revision: number }> {
  // nodeKey(prefix, '') is `<prefix>/data_plane/nodes/`.
  const { items, revision } = await store.range(nodeKey(prefix, ''));
  return { nodes: items.map(entryOf).filter((e): e is NodeEntry => e !== undefined), revision };
}

function revisionOf(e: NodeEntry): number {
  const r = e.value.config_revision;
  return typeof r === 'number' ? r : -1;
}

export async function clusterEndpoint(store: ConfigStore, prefix: string, segs: string[], method: string, query: Query, config: PorticoConfig): Promise<Reply> {
  if (segs.length !== 1 || (segs[0] !== 'nodes' && segs[0] !== 'metrics')) throw new AdminError(404, { error_msg: '404 Route Not Found' });
  if (method !== 'GET') throw methodNotSupported(method, `cluster ${segs[0]}`);
  if (segs[0] === 'metrics') return clusterMetrics(store, prefix, config);
  const want = parseRevision(first(query.wait_revision));
  const timeoutS = parseTimeout(first(query.timeout));
  let read = await readNodes(store, prefix);
  let nodes = read.nodes;
  if (want !== undefined) {
    const deadline = Date.now() + timeoutS * 1000;
    let behind = nodes.filter((n) => revisionOf(n) < want);
    while (behind.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))));
      read = await readNodes(store, prefix);
      nodes = read.nodes;
      behind = nodes.filter((n) => revisionOf(n) < want);
    }
    if (behind.length > 0) {
      return {
        status: 504,
        body: {
          error_msg: `timed out after ${timeoutS} s waiting for revision ${want} on ${behind.length} of ${nodes.length} nodes: ${behind.map((n) => String(n.value.id)).join(', ')}`,
          wait_revision: want,
          laggards: behind.map((n) => ({ id: n.value.id, config_revision: n.value.config_revision })),
        },
      };
    }
  }
  // store_revision (Portico's own): the store's revision at the read, for a client to compare with.
  return { status: 200, body: { list: nodes, total: nodes.length, store_revision: read.revision } };
}
