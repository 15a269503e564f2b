import { HttpListener } from './http-listener';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientResponse } from '../server/client-http';
import type { ManagerStats } from '@portico/secrets';
import { renderLimitStoreMetrics } from '../plugins/limit-redis';

/**
 * Prometheus metrics (SPEC §11), rendered as text exposition format 0.0.4.
 *
 * Hand-rolled instead of prom-client's Counter/Histogram because prom-client hashes the label
 * set on every inc()/observe(), even through `labels()` children. Here the hot path does one
 * Map lookup by route id (the per-route record is created once) plus a Map update by status
 * code and an array increment: no allocation per request. Everything else (config revision,
 * watch resets, secret cache counters) is read from its owner at scrape time.
 */

/** Upstream latency buckets in seconds (prom-client's defaults plus sub-millisecond ones for a LAN). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Config apply buckets in seconds, around the ≤ 5 ms one route change should take. */
export const APPLY_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

/** A fixed-bucket histogram: counts[i] is the number of observations ≤ buckets[i] (non-cumulative; summed at render). */
class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length);
  }

  observe(seconds: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && seconds > b[i]) i++;
    if (i < b.length) this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }

  render(out: string[], name: string, labels: string): void {
    const sep = labels ? ',' : '';
    let acc = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      acc += this.counts[i];
      out.push(`${name}_bucket{${labels}${sep}le="${this.buckets[i]}"} ${acc}`);
    }
    out.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${this.count}`);
    const braces = labels ? `{${labels}}` : '';
    out.push(`${name}_sum${braces} ${this.sum}`, `${name}_count${braces} ${this.count}`);
  }
}

/** Per-route record, created on the route's first request and reused after. */
class RouteStats {
  /** status code → requests */
  readonly codes = new Map<number, number>();
  readonly upstream = new Histogram(LATENCY_BUCKETS);
  constructor(readonly label: string) {}
}

/** What the metrics read at scrape time from their owners. */
export interface MetricsSources {
  appliedRevision(): number;
  watchResets(): number;
  /** Secret cache counters per manager (SPEC §9: never per secret name). */
  secretStats(): Record<string, ManagerStats>;
  /** Keys whose current store value this node refuses, and refusals since start (ConfigSync). */
  rejectedItems?(): number;
  rejections?(): number;
}

/** Status recorded for a request whose client left before a response was started (nginx's 499). */
export const CLIENT_CLOSED = 499;

const ROUTE_ID = Symbol('portico.routeId');
const RAW_STATUS = Symbol('portico.rawStatus');
type Tagged = ClientResponse & { [ROUTE_ID]?: string; [RAW_STATUS]?: number };

export class GatewayMetrics {
  private readonly routes = new Map<string, RouteStats>();
  private readonly apply = new Histogram(APPLY_BUCKETS);

  constructor(private readonly sources: MetricsSources) {}

  /** Remembers which route answers `res`, for the request counter (unmatched requests count under route ""). */
  static tagRoute(res: ClientResponse, routeId: string): void {
    (res as Tagged)[ROUTE_ID] = routeId;
  }

  /** The status of an answer written to the socket directly (websocket tunnel), not through `res`. */
  static tagRawStatus(res: ClientResponse, status: number): void {
    (res as Tagged)[RAW_STATUS] = status;
  }

  /**
   * 'close' listener for a proxy response, called with `this` = the response, so the proxy
   * registers this one function for every request instead of a closure per request.
   */
  readonly onResponseClose = ((metrics: GatewayMetrics) => function (this: ClientResponse): void {
    const code = this.headersSent ? this.statusCode : (this as Tagged)[RAW_STATUS] ?? CLIENT_CLOSED;
    metrics.request((this as Tagged)[ROUTE_ID] ?? '', code);
  })(this);

  request(routeId: string, code: number): void {
    const r = this.route(routeId);
    r.codes.set(code, (r.codes.get(code) ?? 0) + 1);
  }

  /** Time from dispatch to upstream response headers, in milliseconds. */
  upstreamLatency(routeId: string, ms: number): void {
    this.route(routeId).upstream.observe(ms / 1000);
  }

  /** Time to apply one configuration batch to the tables, in milliseconds. */
  configApplied(ms: number): void {
    this.apply.observe(ms / 1000);
  }

  private route(id: string): RouteStats {
    let r = this.routes.get(id);
    if (!r) {
      r = new RouteStats(`route="${escapeLabel(id)}"`);
      this.routes.set(id, r);
    }
    return r;
  }

  /** The exposition text. */
  render(): string {
    const out: string[] = [];
    out.push('# HELP portico_http_requests_total Requests answered by the proxy, by route and status code.',
      '# TYPE portico_http_requests_total counter');
    for (const r of this.routes.values()) {
      for (const [code, n] of r.codes) out.push(`portico_http_requests_total{${r.label},code="${code}"} ${n}`);
    }
    out.push('# HELP portico_upstream_latency_seconds Time from sending a request upstream to its response headers.',
      '# TYPE portico_upstream_latency_seconds histogram');
    for (const r of this.routes.values()) if (r.upstream.count > 0) r.upstream.render(out, 'portico_upstream_latency_seconds', r.label);
    out.push('# HELP portico_config_revision Store revision applied to the routing tables.',
      '# TYPE portico_config_revision gauge',
      `portico_config_revision ${this.sources.appliedRevision()}`);
    out.push('# HELP portico_config_apply_seconds Time to apply one configuration batch to the tables.',
      '# TYPE portico_config_apply_seconds histogram');
    this.apply.render(out, 'portico_config_apply_seconds', '');
    out.push('# HELP portico_config_watch_resets_total Config watch resets (compactions, lost streams, store restarts).',
      '# TYPE portico_config_watch_resets_total counter',
      `portico_config_watch_resets_total ${this.sources.watchResets()}`);
    out.push('# HELP portico_config_rejected_items Keys in the config store whose current value this node refuses (listed with the reason on the control API, GET /v1/config).',
      '# TYPE portico_config_rejected_items gauge',
      `portico_config_rejected_items ${this.sources.rejectedItems?.() ?? 0}`,
      '# HELP portico_config_rejections_total Config store values refused since start.',
      '# TYPE portico_config_rejections_total counter',
      `portico_config_rejections_total ${this.sources.rejections?.() ?? 0}`);
    const secrets = Object.entries(this.sources.secretStats());
    const families: Array<[keyof ManagerStats, string, string]> = [
      ['hits', 'portico_secret_cache_hits_total', 'Secret lookups answered from the cache.'],
      ['misses', 'portico_secret_cache_misses_total', 'Secret lookups that needed a provider fetch.'],
      ['fetches', 'portico_secret_fetches_total', 'Provider calls made.'],
      ['errors', 'portico_secret_fetch_errors_total', 'Provider calls that failed.'],
      ['staleServes', 'portico_secret_stale_serves_total', 'Expired values served because a refresh failed.'],
    ];
    for (const [field, name, help] of families) {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [manager, s] of secrets) out.push(`${name}{manager="${escapeLabel(manager)}"} ${s[field]}`);
    }
    renderLimitStoreMetrics(out);
    return out.join('\n') + '\n';
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Serves `GET /metrics` (meant for loopback, SPEC §1 `metrics`). */
export class MetricsServer extends HttpListener {
  /** `metrics`: a GatewayMetrics, or a node's merged view over its workers (async). */
  constructor(private readonly metrics: { render(): string | Promise<string> }) {
    super();
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' && path !== '/apisix/prometheus/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    Promise.resolve(this.metrics.render()).then((body) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    }, () => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('metrics unavailable\n');
    });
  }
}

export { prometheusPlugin } from '../plugins/prometheus';
