import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ADMIN_KEY, Harness, VIEWER_KEY, rawRequest, request, startHarness, testConfig } from './helpers/admin-harness';
import { UI_CSP } from '../src/ui-assets';
import { addExposition, MetricsSummary } from '../src/cluster-metrics';
import { parsePrometheusText } from '../src/prometheus-text';

/** A stand-in for packages/ui/dist: what Vite emits (index.html, hashed assets). */
function fakeDist(): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-ui-dist-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/ui/assets/app-abc.js"></script>');
  writeFileSync(join(dir, 'assets', 'app-abc.js'), 'console.log("dashboard");\n'.repeat(100));
  return dir;
}

describe('dashboard serving at /ui/ on the admin port', () => {
  let h: Harness;
  let dist: string;
  beforeAll(async () => {
    dist = fakeDist();
    h = await startHarness({ uiDir: dist });
  });
  afterAll(async () => {
    await h.close();
    rmSync(dist, { recursive: true, force: true });
  });

  it('serves the page without a key, under a strict Content-Security-Policy', async () => {
    const r = await request(h.base, 'GET', '/ui/');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.text).toContain('/ui/assets/app-abc.js');
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toBe(UI_CSP);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('cache-control')).toBe('no-cache');
  });

  it('redirects /ui to /ui/', async () => {
    const r = await rawRequest(h.admin.port, 'GET', '/ui', undefined, {});
    expect(r.status).toBe(301);
    const res = await fetch(`${h.base}/ui`, { redirect: 'manual' });
    expect(res.headers.get('location')).toBe('/ui/');
  });

  it('serves hashed assets as immutable, gzipped when asked', async () => {
    const res = await new Promise<http.IncomingMessage & { body: Buffer }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: h.admin.port, path: '/ui/assets/app-abc.js', headers: { 'accept-encoding': 'gzip' } }, (m) => {
        const chunks: Buffer[] = [];
        m.on('data', (c: Buffer) => chunks.push(c));
        m.on('end', () => resolve(Object.assign(m, { body: Buffer.concat(chunks) })));
      }).on('error', reject);
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['cache-control']).toContain('immutable');
    expect(gunzipSync(res.body).toString()).toContain('console.log("dashboard")');
  });

  it('answers 404 for an asset that is not there and never reads outside the folder', async () => {
    expect((await request(h.base, 'GET', '/ui/assets/missing.js')).status).toBe(404);
    const r = await rawRequest(h.admin.port, 'GET', '/ui/../../../../etc/passwd', undefined, {});
    expect(r.text).not.toContain('root:');
    const enc = await rawRequest(h.admin.port, 'GET', '/ui/assets/..%2f..%2fpackage.json', undefined, {});
    expect(enc.status).toBe(404);
  });

  it('a page path under /ui/ is the page (the app routes by fragment)', async () => {
    const r = await request(h.base, 'GET', '/ui/routes');
    expect(r.status).toBe(200);
    expect(r.text).toContain('<!doctype html>');
  });

  it('refuses writes to /ui', async () => {
    expect((await request(h.base, 'POST', '/ui/', 'x')).status).toBe(405);
  });

  it('keeps the API behind the key', async () => {
    expect((await request(h.base, 'GET', '/apisix/admin/routes')).status).toBe(401);
  });
});

describe('dashboard switches and fallbacks', () => {
  it('enable_admin_ui: false leaves /ui/ unserved', async () => {
    const dist = fakeDist();
    const h = await startHarness({ uiDir: dist, config: testConfig({ deployment: { admin: { admin_key_required: true, enable_admin_ui: false } } }) });
    try {
      // Nothing answers /ui/ then: it meets the key check like any other admin path.
      const r = await request(h.base, 'GET', '/ui/');
      expect(r.status).toBe(401);
      expect(r.text).not.toContain('<!doctype html>');
    } finally {
      await h.close();
      rmSync(dist, { recursive: true, force: true });
    }
  });

  it('an unbuilt dashboard says how to build it', async () => {
    const h = await startHarness({ uiDir: join(tmpdir(), 'portico-no-such-dist') });
    try {
      const r = await request(h.base, 'GET', '/ui/');
      expect(r.status).toBe(404);
      expect(r.text).toContain('make build');
    } finally {
      await h.close();
    }
  });

  it('the network allow-list applies to the page too', async () => {
    const dist = fakeDist();
    const h = await startHarness({ uiDir: dist, config: testConfig({ deployment: { admin: { admin_key_required: true, allow_admin: ['10.0.0.0/8'] } } }) });
    try {
      expect((await request(h.base, 'GET', '/ui/')).status).toBe(403);
    } finally {
      await h.close();
      rmSync(dist, { recursive: true, force: true });
    }
  });
});

describe('GET /apisix/admin/auth/whoami', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it('names the role of the key', async () => {
    expect((await h.call('GET', '/apisix/admin/auth/whoami')).json).toEqual({ role: 'admin', key_required: true });
    expect((await h.call('GET', '/apisix/admin/auth/whoami', undefined, { 'X-API-KEY': VIEWER_KEY })).json).toEqual({ role: 'viewer', key_required: true });
  });

  it('needs a valid key like every admin call', async () => {
    expect((await h.call('GET', '/apisix/admin/auth/whoami', undefined, {})).status).toBe(401);
    expect((await h.call('GET', '/apisix/admin/auth/whoami', undefined, { 'X-API-KEY': 'nope' })).status).toBe(401);
    expect((await h.call('GET', '/apisix/admin/auth/other', undefined, { 'X-API-KEY': ADMIN_KEY })).status).toBe(404);
  });

  it('keyless loopback access is the admin role', async () => {
    const k = await startHarness({ config: testConfig({ deployment: { admin: { admin_key_required: false } } }), adminKeys: [] });
    try {
      const r = await request(k.base, 'GET', '/apisix/admin/auth/whoami');
      expect(r.json).toEqual({ role: 'admin', key_required: false });
    } finally {
      await k.close();
    }
  });
});

describe('GET /apisix/admin/cluster/metrics', () => {
  const EXPOSITION = [
    '# HELP portico_http_requests_total Requests',
    '# TYPE portico_http_requests_total counter',
    'portico_http_requests_total{route="r1",code="200"} 7',
    'portico_http_requests_total{route="r\\"2",code="502"} 1',
    'portico_upstream_latency_seconds_bucket{route="r1",le="0.001"} 3',
    'portico_upstream_latency_seconds_bucket{route="r1",le="0.01"} 7',
    'portico_upstream_latency_seconds_bucket{route="r1",le="+Inf"} 7',
    'portico_upstream_latency_seconds_sum{route="r1"} 0.02',
    'portico_upstream_latency_seconds_count{route="r1"} 7',
    'portico_secret_cache_hits_total{manager="aws"} 40',
    'portico_secret_cache_misses_total{manager="aws"} 2',
    'portico_secret_fetches_total{manager="aws"} 2',
    'portico_secret_fetch_errors_total{manager="aws"} 0',
    'portico_secret_stale_serves_total{manager="aws"} 0',
    'garbage line',
    '',
  ].join('\n');

  it('parses the exposition format, label escapes included', () => {
    const s = parsePrometheusText(EXPOSITION);
    expect(s.find((x) => x.labels.route === 'r"2')?.value).toBe(1);
    expect(s.filter((x) => x.name === 'garbage')).toHaveLength(0);
  });

  it('sums two nodes route by route and bucket by bucket', () => {
    const out: MetricsSummary = { time: 0, sources: [], routes: {}, secrets: {} };
    addExposition(out, EXPOSITION);
    addExposition(out, EXPOSITION);
    expect(out.routes.r1.codes).toEqual({ 200: 14 });
    expect(out.routes.r1.latency.buckets).toEqual([[0.001, 6], [0.01, 14], ['+Inf', 14]]);
    expect(out.routes.r1.latency.count).toBe(14);
    expect(out.secrets.aws).toEqual({ hits: 80, misses: 4, fetches: 4, errors: 0, stale_serves: 0 });
  });

  it('a traditional node reads its own metrics listener over HTTP', async () => {
    const metrics = http.createServer((req, res) => {
      res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain' });
      res.end(req.url === '/metrics' ? EXPOSITION : '');
    });
    await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
    const port = (metrics.address() as AddressInfo).port;
    const h = await startHarness({ config: testConfig({ deployment: { admin: { admin_key_required: true } }, metrics: { ip: '127.0.0.1', port } }) });
    try {
      const r = await h.call('GET', '/apisix/admin/cluster/metrics');
      expect(r.status).toBe(200);
      expect(r.json.sources).toEqual([{ node: 'this node', ok: true }]);
      expect(r.json.routes.r1.codes).toEqual({ 200: 7 });
      expect(r.json.secrets.aws.hits).toBe(40);
      expect(typeof r.json.time).toBe('number');
      // A viewer may read it: it is a GET.
      expect((await h.call('GET', '/apisix/admin/cluster/metrics', undefined, { 'X-API-KEY': VIEWER_KEY })).status).toBe(200);
    } finally {
      await h.close();
      await new Promise((r) => metrics.close(r));
    }
  });

  it('names a node whose metrics cannot be read, and still answers', async () => {
    const h = await startHarness({ config: testConfig({ deployment: { admin: { admin_key_required: true } }, metrics: { ip: '127.0.0.1', port: 1 } }) });
    try {
      const r = await h.call('GET', '/apisix/admin/cluster/metrics');
      expect(r.status).toBe(200);
      expect(r.json.sources[0].ok).toBe(false);
      expect(r.json.routes).toEqual({});
    } finally {
      await h.close();
    }
  });
});
