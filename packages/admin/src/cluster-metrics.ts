import { ConfigStore, PorticoConfig, nodeKey } from '@portico/core';
import { parsePrometheusText } from './prometheus-text';
import type { Reply } from './handlers';

/**
 * `GET /apisix/admin/cluster/metrics` (Portico's own, for the dashboard's traffic page): the
 * request, latency and secret cache counters of every data plane, summed. The admin reads each
 * node's Prometheus endpoint over HTTP — the `metrics` address its registry entry carries —
 * and never through the store: nodes write nothing for it. A traditional node without a
 * registry (embedded store) reads its own metrics listener from config.yaml.
 *
 * Counters are totals since each node started; a client derives rates from two answers
 * (`time` is the admin's clock in milliseconds).
 */

const FETCH_TIMEOUT_MS = 2000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** `host:port`, `[v6]:port`: the only shapes a registry entry may name (no path, no scheme). */
const ADDRESS = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):\d{1,5}$/;

export interface RouteTotals {
  codes: Record<string, number>;
  latency: { buckets: Array<[number | '+Inf', number]>; count: number; sum: number };
}

export interface SecretTotals {
  hits: number;
  misses: number;
  fetches: number;
  errors: number;
  stale_serves: number;
}

export interface MetricsSummary {
  time: number;
  sources: Array<{ node: string; ok: boolean; error?: string }>;
  routes: Record<string, RouteTotals>;
  secrets: Record<string, SecretTotals>;
}

interface Source {
  node: string;
  address: string;
}

const SECRET_FAMILIES: Record<string, keyof SecretTotals> = {
  portico_secret_cache_hits_total: 'hits',
  portico_secret_cache_misses_total: 'misses',
  portico_secret_fetches_total: 'fetches',
  portico_secret_fetch_errors_total: 'errors',
  portico_secret_stale_serves_total: 'stale_serves',
};

async function sources(store: ConfigStore, prefix: string, config: PorticoConfig): Promise<Source[]> {
  const { items } = await store.range(nodeKey(prefix, ''));
  const out: Source[] = [];
  for (const kv of items) {
    try {
      const v = JSON.parse(kv.value) as { id?: unknown; metrics?: unknown };
      if (typeof v.metrics === 'string' && ADDRESS.test(v.metrics)) out.push({ node: String(v.id ?? kv.key), address: v.metrics });
    } catch {
      // not a heartbeat Portico wrote
    }
  }
  if (out.length === 0 && config.deployment.role === 'traditional') {
    const ip = config.metrics.ip ?? '127.0.0.1';
    const host = ip === '0.0.0.0' ? '127.0.0.1' : ip === '::' ? '::1' : ip;
    out.push({ node: 'this node', address: `${host.includes(':') ? `[${host}]` : host}:${config.metrics.port}` });
  }
  return out;
}

async function readText(address: string): Promise<string> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) throw new Error('metrics too large');
  const text = await res.text();
  if (text.length > MAX_BODY_BYTES) throw new Error('metrics too large');
  return text;
}

function route(out: MetricsSummary, id: string): RouteTotals {
  let r = out.routes[id];
  if (!r) {
    r = { codes: {}, latency: { buckets: [], count: 0, sum: 0 } };
    out.routes[id] = r;
  }
  return r;
}

/** Adds one node's samples into `out`. Buckets are summed by their `le` bound. */
export function addExposition(out: MetricsSummary, text: string): void {
  const bucketSums = new Map<string, Map<number, number>>();
  for (const s of parsePrometheusText(text)) {
    if (s.name === 'portico_http_requests_total') {
      const r = route(out, s.labels.route ?? '');
      const code = s.labels.code ?? '0';
      r.codes[code] = (r.codes[code] ?? 0) + s.value;
    } else if (s.name === 'portico_upstream_latency_seconds_bucket') {
      const id = s.labels.route ?? '';
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      if (Number.isNaN(le)) continue;
      let m = bucketSums.get(id);
      if (!m) bucketSums.set(id, (m = new Map()));
      m.set(le, (m.get(le) ?? 0) + s.value);
    } else if (s.name === 'portico_upstream_latency_seconds_count') {
      route(out, s.labels.route ?? '').latency.count += s.value;
    } else if (s.name === 'portico_upstream_latency_seconds_sum') {
      route(out, s.labels.route ?? '').latency.sum += s.value;
    } else if (Object.hasOwn(SECRET_FAMILIES, s.name) && s.labels.manager !== undefined) {
      const m = (out.secrets[s.labels.manager] ??= { hits: 0, misses: 0, fetches: 0, errors: 0, stale_serves: 0 });
      m[SECRET_FAMILIES[s.name]] += s.value;
    }
  }
  for (const [id, m] of bucketSums) {
    const r = route(out, id);
    const merged = new Map<number, number>(r.latency.buckets.map(([le, c]) => [le === '+Inf' ? Infinity : le, c]));
    for (const [le, c] of m) merged.set(le, (merged.get(le) ?? 0) + c);
    r.latency.buckets = [...merged.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => [le === Infinity ? '+Inf' : le, c]);
  }
}

export async function clusterMetrics(store: ConfigStore, prefix: string, config: PorticoConfig): Promise<Reply> {
  const list = await sources(store, prefix, config);
  const out: MetricsSummary = { time: Date.now(), sources: [], routes: {}, secrets: {} };
  const texts = await Promise.all(list.map((s) => readText(s.address).then((t) => ({ t }), (e: Error) => ({ e: e.name === 'TimeoutError' ? 'timed out' : e.message }))));
  list.forEach((s, i) => {
    const r = texts[i];
    if ('t' in r) {
      addExposition(out, r.t);
      out.sources.push({ node: s.node, ok: true });
    } else {
      out.sources.push({ node: s.node, ok: false, error: r.e });
    }
  });
  out.time = Date.now();
  return { status: 200, body: out };
}
