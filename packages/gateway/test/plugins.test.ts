import './helpers/quiet-logs';
import { startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { startHarness, type Harness } from './helpers/harness';
import { CountWindows } from '../src/plugins/limit-count';

/** Each plugin through the real proxy against a real upstream. */
describe('plugins through the proxy', () => {
  let h: Harness;
  let echo: EchoUpstream;
  const upstream = () => ({ nodes: { [`127.0.0.1:${echo.port}`]: 1 } });
  const route = (id: string, uri: string, plugins: object, extra: object = {}) =>
    h.put(`routes/${id}`, { uri, plugins, upstream: upstream(), ...extra });

  beforeAll(async () => {
    h = await startHarness();
    echo = await startEchoUpstream({ name: 'echo' });
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
  });

  describe('proxy-rewrite', () => {
    it('rewrites uri with variables and keeps the query', async () => {
      await route('pr1', '/pr1/*', { 'proxy-rewrite': { uri: '/new/$arg_id' } });
      expect((await h.request('/pr1/x?id=7')).json().url).toBe('/new/7?id=7');
    });

    it('rewrites with regex_uri (first matching pair), leaving a non-matching uri alone', async () => {
      await route('pr2', '/pr2/*', { 'proxy-rewrite': { regex_uri: ['^/nomatch/(.*)', '/a/$1', '^/pr2/(\\w+)/(\\w+)', '/b/$2/${1}'] } });
      expect((await h.request('/pr2/one/two?q=1')).json().url).toBe('/b/two/one?q=1');
      expect((await h.request('/pr2/only')).json().url).toBe('/pr2/only');
    });

    it('sets Host (beating pass_host) and method, and adds, sets, removes headers in that order (APISIX\'s rewrite loop)', async () => {
      await route('pr3', '/pr3', {
        'proxy-rewrite': {
          host: 'rewritten.example',
          method: 'POST',
          headers: { add: { 'x-multi': 'added', 'x-gone': 'added' }, set: { 'x-set': '$remote_addr', 'x-replaced': 'new' }, remove: ['x-gone', 'x-drop', 'x-replaced'] },
        },
      });
      const e = (await h.request('/pr3', { headers: { host: 'client.example', 'x-multi': 'client', 'x-replaced': 'old', 'x-drop': '1' } })).json();
      expect(e.method).toBe('POST');
      expect(e.headers.host).toBe('rewritten.example');
      expect(e.headers['x-multi']).toBe('client, added');
      expect(e.headers['x-set']).toBe('127.0.0.1');
      // set then remove (apisix/plugins/proxy-rewrite.lua runs add, set, remove): removed
      expect(e.headers['x-replaced']).toBeUndefined();
      expect(e.headers['x-gone']).toBeUndefined();
      expect(e.headers['x-drop']).toBeUndefined();
    });

    it('header values take $N / ${N} captures of the regex_uri pair that matched, and $var / ${var ?? default}', async () => {
      await route('pr4', '/pr4/*', {
        'proxy-rewrite': {
          regex_uri: ['^/nomatch/(.*)', '/a/$1', '^/pr4/(\\w+)/(\\w+)', '/v2/$2'],
          headers: {
            set: { 'x-tenant': '$1', 'x-item': 'item-${2}', 'x-whole': '$0', 'x-none': '[$3]', 'x-mixed': '$1@$arg_q', 'x-default': '${http_x_plan ?? free}' },
            add: { 'x-added': '$2-$request_method' },
          },
        },
      });
      const e = (await h.request('/pr4/acme/42?q=s')).json();
      expect(e.url).toBe('/v2/42?q=s');
      expect(e.headers['x-tenant']).toBe('acme');
      expect(e.headers['x-item']).toBe('item-42');
      expect(e.headers['x-whole']).toBe('/pr4/acme/42');
      expect(e.headers['x-none']).toBe('[]'); // no such group: empty, as APISIX
      expect(e.headers['x-mixed']).toBe('acme@s');
      expect(e.headers['x-default']).toBe('free');
      expect(e.headers['x-added']).toBe('42-GET');
      const withPlan = (await h.request('/pr4/acme/42', { headers: { 'x-plan': 'gold' } })).json();
      expect(withPlan.headers['x-default']).toBe('gold');
    });

    it('captures are empty when no regex_uri pair matched or `uri` is set; captured text is not expanded again', async () => {
      await route('pr5', '/pr5/*', {
        'proxy-rewrite': { regex_uri: ['^/pr5/only/(\\w+)$', '/x/$1'], headers: { set: { 'x-cap': '<$1>' } } },
      });
      const miss = (await h.request('/pr5/other/path')).json();
      expect(miss.url).toBe('/pr5/other/path');
      expect(miss.headers['x-cap']).toBe('<>');
      expect((await h.request('/pr5/only/abc')).json().headers['x-cap']).toBe('<abc>');

      await route('pr6', '/pr6/*', {
        'proxy-rewrite': { uri: '/fixed', regex_uri: ['^/pr6/(.*)', '/r/$1'], headers: { set: { 'x-cap': '<$1>' } } },
      });
      const fixed = (await h.request('/pr6/abc')).json();
      expect(fixed.url).toBe('/fixed');
      expect(fixed.headers['x-cap']).toBe('<>');

      await route('pr7', '/pr7/*', { 'proxy-rewrite': { regex_uri: ['^/pr7/(.*)', '/r'], headers: { set: { 'x-cap': '$1' } } } });
      const injected = (await h.request('/pr7/$http_x_secret', { headers: { 'x-secret': 'leak' } })).json();
      expect(injected.headers['x-cap']).toBe('$http_x_secret');
    });
  });

  describe('response-rewrite', () => {
    it('replaces status, body and headers of the upstream answer', async () => {
      await route('rr1', '/rr1', {
        'response-rewrite': { status_code: 202, body: 'replaced', headers: { set: { 'x-echo-name': 'hidden', 'x-new': '$uri' }, remove: ['content-type'] } },
      });
      const r = await h.request('/rr1');
      expect(r.status).toBe(202);
      expect(r.text).toBe('replaced');
      expect(r.headers['content-length']).toBe('8');
      expect(r.headers['x-echo-name']).toBe('hidden');
      expect(r.headers['x-new']).toBe('/rr1');
      expect(r.headers['content-type']).toBeUndefined();
    });

    it('applies only when its vars match', async () => {
      await route('rr2', '/rr2', { 'response-rewrite': { body: 'only-for-json', vars: [['arg_fmt', '==', 'json']] } });
      expect((await h.request('/rr2?fmt=json')).text).toBe('only-for-json');
      expect((await h.request('/rr2?fmt=xml')).json().name).toBe('echo');
    });
  });

  describe('request-id', () => {
    it('generates an id for upstream and client, and keeps the client one', async () => {
      await route('rid', '/rid', { 'request-id': {} });
      const r = await h.request('/rid');
      const id = r.headers['x-request-id'];
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(r.json().headers['x-request-id']).toBe(id);
      const r2 = await h.request('/rid');
      expect(r2.headers['x-request-id']).not.toBe(id);
      const kept = await h.request('/rid', { headers: { 'x-request-id': 'mine' } });
      expect(kept.headers['x-request-id']).toBe('mine');
      expect(kept.json().headers['x-request-id']).toBe('mine');
    });

    it('honours header_name, include_in_response and range_id', async () => {
      await route('rid2', '/rid2', { 'request-id': { header_name: 'X-Trace', include_in_response: false, algorithm: 'range_id', range_id: { length: 10, char_set: 'abcdef' } } });
      const r = await h.request('/rid2');
      expect(r.headers['x-trace']).toBeUndefined();
      expect(r.json().headers['x-trace']).toMatch(/^[a-f]{10}$/);
    });
  });

  it('gateway errors (upstream down) carry plugin response headers and header filters', async () => {
    await h.put('routes/down', { uri: '/down', upstream: { nodes: { '127.0.0.1:1': 1 } }, plugins: { 'request-id': {}, cors: {} } });
    const r = await h.request('/down', { headers: { 'x-request-id': 'trace-me' } });
    expect(r.status).toBe(502);
    expect(r.json()).toEqual({ error_msg: 'failed to connect to upstream' });
    expect(r.headers['x-request-id']).toBe('trace-me');
    expect(r.headers['access-control-allow-origin']).toBe('*');
  });

  describe('ip-restriction', () => {
    it('whitelist lets listed CIDRs in and refuses others with 403', async () => {
      await route('ipw', '/ipw', { 'ip-restriction': { whitelist: ['127.0.0.0/24'] } });
      expect((await h.request('/ipw')).status).toBe(200);
      await route('ipw', '/ipw', { 'ip-restriction': { whitelist: ['10.0.0.0/8', '::1'] } });
      const r = await h.request('/ipw');
      expect(r.status).toBe(403);
      expect(r.json()).toEqual({ message: 'Your IP address is not allowed' });
    });

    it('blacklist refuses listed addresses with the configured code and message', async () => {
      await route('ipb', '/ipb', { 'ip-restriction': { blacklist: ['127.0.0.1'], response_code: 404, message: 'go away' } });
      const before = echo.requests;
      const r = await h.request('/ipb');
      expect(echo.requests).toBe(before);
      expect(r.status).toBe(404);
      expect(r.json()).toEqual({ message: 'go away' });
      await route('ipb', '/ipb', { 'ip-restriction': { blacklist: ['192.168.0.0/16'] } });
      expect((await h.request('/ipb')).status).toBe(200);
    });
  });

  describe('cors', () => {
    it('defaults: preflight answered 200 by the gateway with APISIX default headers', async () => {
      await route('cors1', '/cors1', { cors: {} });
      const before = echo.requests;
      const r = await h.request('/cors1', { method: 'OPTIONS', headers: { origin: 'http://a.example' } });
      expect(r.status).toBe(200);
      expect(r.text).toBe('');
      expect(echo.requests).toBe(before);
      expect(r.headers).toMatchObject({
        'access-control-allow-origin': '*',
        'access-control-allow-methods': '*',
        'access-control-allow-headers': '*',
        'access-control-max-age': '5',
      });
      expect(r.headers['access-control-allow-credentials']).toBeUndefined();
      const g = await h.request('/cors1', { headers: { origin: 'http://a.example' } });
      expect(g.json().name).toBe('echo');
      expect(g.headers['access-control-allow-origin']).toBe('*');
    });

    it('an origin list echoes only allowed origins, with Vary and credentials', async () => {
      await route('cors2', '/cors2', {
        cors: { allow_origins: 'http://a.example,http://b.example', allow_methods: 'GET,POST', allow_headers: 'x-a', allow_credential: true, expose_headers: 'x-e', max_age: 60 },
      });
      const ok = await h.request('/cors2', { headers: { origin: 'http://b.example' } });
      expect(ok.headers).toMatchObject({
        'access-control-allow-origin': 'http://b.example',
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'GET,POST',
        'access-control-expose-headers': 'x-e',
        'access-control-max-age': '60',
        vary: 'Origin',
      });
      const other = await h.request('/cors2', { headers: { origin: 'http://evil.example' } });
      expect(other.status).toBe(200);
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('limit-count', () => {
    it('allows count requests per window per client, then 503 with quota headers', async () => {
      await route('lc1', '/lc1', { 'limit-count': { count: 2, time_window: 60 } });
      const r1 = await h.request('/lc1');
      expect(r1.status).toBe(200);
      expect(r1.headers['x-ratelimit-limit']).toBe('2');
      expect(r1.headers['x-ratelimit-remaining']).toBe('1');
      const reset = Number(r1.headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThan(0);
      expect(reset).toBeLessThanOrEqual(60);
      expect((await h.request('/lc1')).headers['x-ratelimit-remaining']).toBe('0');
      const r3 = await h.request('/lc1');
      expect(r3.status).toBe(503);
      expect(r3.text).toBe('');
      expect(r3.headers['x-ratelimit-remaining']).toBe('0');
    });

    it('counts per key variable, with rejected_code and rejected_msg', async () => {
      await route('lc2', '/lc2', { 'limit-count': { count: 1, time_window: 60, key: 'http_x_user', rejected_code: 429, rejected_msg: 'slow down', show_limit_quota_header: false } });
      expect((await h.request('/lc2', { headers: { 'x-user': 'a' } })).status).toBe(200);
      const rej = await h.request('/lc2', { headers: { 'x-user': 'a' } });
      expect(rej.status).toBe(429);
      expect(rej.json()).toEqual({ error_msg: 'slow down' });
      expect(rej.headers['x-ratelimit-limit']).toBeUndefined();
      expect((await h.request('/lc2', { headers: { 'x-user': 'b' } })).status).toBe(200);
    });

    it('in a global rule, limits across routes; cors headers reach the rejection', async () => {
      await route('lc3', '/lc3', { cors: {} });
      await h.put('global_rules/lc', { plugins: { 'limit-count': { count: 1, time_window: 60, key_type: 'constant', key: 'all' } } });
      try {
        expect((await h.request('/lc3')).status).toBe(200);
        const rej = await h.request('/lc3', { headers: { origin: 'http://x.example' } });
        expect(rej.status).toBe(503);
        expect(rej.headers['access-control-allow-origin']).toBe('*');
      } finally {
        await h.del('global_rules/lc');
      }
      expect((await h.request('/lc3')).status).toBe(200);
    });
  });
});

describe('CountWindows', () => {
  it('restores the quota when the window ends and sweeps expired keys', () => {
    let now = 0;
    const w = new CountWindows(1, 1000, () => now);
    expect(w.take('a').remaining).toBe(0);
    expect(w.take('a').remaining).toBe(-1);
    now = 999;
    expect(w.take('a')).toEqual({ remaining: -1, resetMs: 1 });
    now = 1000;
    expect(w.take('a').remaining).toBe(0);
    for (let i = 0; i < 1024; i++) w.take(`k${i}`);
    // the 1025 expired keys go at the next sweep (when the map has doubled), not one by one
    now = 5000;
    for (let i = 0; i < 1100; i++) w.take(`n${i}`);
    expect(w.size).toBe(1100);
  });
});
