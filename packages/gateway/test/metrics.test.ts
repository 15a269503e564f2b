import './helpers/quiet-logs';
import { DEFAULT_CONFIG } from '@portico/core';
import { SecretResolver } from '@portico/secrets';
import { freePort, startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { GatewayMetrics, prometheusPlugin } from '../src/node/metrics';
import { PluginChain } from '../src/plugins/pipeline';
import { httpRequest, startHarness, type Harness } from './helpers/harness';

const SECRET_VALUE = 'v4lue-that-must-not-leak';

/** `name{labels} value` lines of a scrape, keyed by `name{labels}`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

describe('metrics (SPEC §11)', () => {
  let h: Harness;
  let echo: EchoUpstream;
  let resolver: SecretResolver;

  beforeAll(async () => {
    resolver = new SecretResolver({ ttlSeconds: 300, negTtlSeconds: 60, maxEntries: 100, env: { PORTICO_METRICS_SECRET: SECRET_VALUE } });
    h = await startHarness({ resolver });
    echo = await startEchoUpstream({ name: 'echo' });
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
    resolver.close();
  });

  const scrape = async () => {
    const r = await httpRequest(h.metricsPort, '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return r.text;
  };

  it('listens on loopback by default', () => {
    expect(DEFAULT_CONFIG.metrics).toEqual({ ip: '127.0.0.1', port: 9091 });
  });

  it('counts requests by route and status, and observes upstream latency per route', async () => {
    const dead = await freePort();
    await h.put('routes/ok', { uri: '/ok', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });
    await h.put('routes/dead', { uri: '/dead', upstream: { nodes: { [`127.0.0.1:${dead}`]: 1 } } });
    expect((await h.request('/ok')).status).toBe(200);
    expect((await h.request('/ok')).status).toBe(200);
    expect((await h.request('/dead')).status).toBe(502);
    expect((await h.request('/no-such-route')).status).toBe(404);
    const s = samples(await scrape());
    expect(s.get('portico_http_requests_total{route="ok",code="200"}')).toBe(2);
    expect(s.get('portico_http_requests_total{route="dead",code="502"}')).toBe(1);
    // Unmatched requests have no route (APISIX labels them with an empty route too).
    expect(s.get('portico_http_requests_total{route="",code="404"}')).toBe(1);
    expect(s.get('portico_upstream_latency_seconds_count{route="ok"}')).toBe(2);
    expect(s.get('portico_upstream_latency_seconds_bucket{route="ok",le="+Inf"}')).toBe(2);
    expect(s.get('portico_upstream_latency_seconds_sum{route="ok"}')).toBeGreaterThan(0);
    // No response head ever came from the dead node: no latency sample.
    expect(s.has('portico_upstream_latency_seconds_count{route="dead"}')).toBe(false);
  });

  it('reports the applied config revision, apply latency and watch resets', async () => {
    const rev = await h.put('routes/rev', { uri: '/rev', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });
    const s = samples(await scrape());
    expect(s.get('portico_config_revision')).toBe(h.gw.appliedRevision);
    expect(s.get('portico_config_revision')).toBeGreaterThanOrEqual(rev);
    expect(s.get('portico_config_apply_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(s.get('portico_config_watch_resets_total')).toBe(h.gw.sync.resets);
  });

  it('reports secret cache counters by manager, never by secret name or value', async () => {
    expect(await resolver.resolve('$env://PORTICO_METRICS_SECRET')).toBe(SECRET_VALUE);
    expect(await resolver.resolve('$env://PORTICO_METRICS_SECRET')).toBe(SECRET_VALUE);
    const text = await scrape();
    const s = samples(text);
    expect(s.get('portico_secret_cache_misses_total{manager="env"}')).toBe(1);
    expect(s.get('portico_secret_fetches_total{manager="env"}')).toBe(1);
    expect(s.get('portico_secret_cache_hits_total{manager="env"}')).toBe(1);
    expect(s.get('portico_secret_fetch_errors_total{manager="env"}')).toBe(0);
    expect(s.get('portico_secret_stale_serves_total{manager="env"}')).toBe(0);
    expect(text).not.toContain('PORTICO_METRICS_SECRET');
    expect(text).not.toContain(SECRET_VALUE);
  });

  it('answers 404 off /metrics', async () => {
    expect((await httpRequest(h.metricsPort, '/other')).status).toBe(404);
  });

  it('provides a prometheus plugin that a route can carry (it only enables export, as in APISIX)', () => {
    const registry = new Map([[prometheusPlugin.name, prometheusPlugin]]);
    expect(() => PluginChain.build({ prometheus: { prefer_name: true } }, registry)).not.toThrow();
    expect(prometheusPlugin.priority).toBe(500);
  });

  it('escapes label values', () => {
    const m = new GatewayMetrics({ appliedRevision: () => 0, watchResets: () => 0, secretStats: () => ({}) });
    m.request('a"b\\c', 200);
    expect(m.render()).toContain('portico_http_requests_total{route="a\\"b\\\\c",code="200"} 1');
  });

  it('keeps the per-request cost small: a million observations well under a second', () => {
    const m = new GatewayMetrics({ appliedRevision: () => 0, watchResets: () => 0, secretStats: () => ({}) });
    const t0 = performance.now();
    for (let i = 0; i < 1_000_000; i++) {
      m.request('r1', 200);
      m.upstreamLatency('r1', 3);
    }
    const ms = performance.now() - t0;
    expect(samples(m.render()).get('portico_http_requests_total{route="r1",code="200"}')).toBe(1_000_000);
    expect(ms).toBeLessThan(1000);
  });
});
