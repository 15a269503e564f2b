import './helpers/quiet-logs';
import { startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { startHarness, type Harness } from './helpers/harness';

/**
 * APISIX 3.x runs the global rules on a request that matches no route before answering
 * `404 Route Not Found` (apisix/init.lua `http_access_phase`), so a global rule can refuse
 * such a request first. Through the real proxy and store.
 */
describe('global rules on requests that match no route', () => {
  let h: Harness;
  let echo: EchoUpstream;

  beforeAll(async () => {
    h = await startHarness();
    echo = await startEchoUpstream({ name: 'echo' });
    await h.put('routes/known', { uri: '/known', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
  });
  afterEach(async () => {
    await h.del('global_rules/g');
  });

  it('a global ip-restriction refuses an unmatched request with its own answer, not 404', async () => {
    await h.put('global_rules/g', { plugins: { 'ip-restriction': { blacklist: ['127.0.0.1'], message: 'go away' } } });
    const r = await h.request('/no-such-route');
    expect(r.status).toBe(403);
    expect(r.json()).toEqual({ message: 'go away' });
    // and a matched route is refused the same way
    expect((await h.request('/known')).status).toBe(403);
  });

  it('a global rule that lets the request through still ends in 404 Route Not Found', async () => {
    await h.put('global_rules/g', { plugins: { 'ip-restriction': { whitelist: ['127.0.0.1'] } } });
    const r = await h.request('/no-such-route');
    expect(r.status).toBe(404);
    expect(r.json()).toEqual({ error_msg: '404 Route Not Found' });
  });

  it('a global limit-count counts unmatched requests, puts its quota headers on the 404 and rejects over the limit', async () => {
    await h.put('global_rules/g', { plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 429 } } });
    const first = await h.request('/no-such-route');
    expect(first.status).toBe(404);
    expect(first.headers['x-ratelimit-limit']).toBe('2');
    expect(first.headers['x-ratelimit-remaining']).toBe('1');
    expect((await h.request('/other-missing')).status).toBe(404);
    const third = await h.request('/no-such-route');
    expect(third.status).toBe(429);
    expect(third.headers['x-ratelimit-remaining']).toBe('0');
  });

  it('a global response-rewrite header filter applies to the 404', async () => {
    await h.put('global_rules/g', { plugins: { 'response-rewrite': { headers: { set: { 'x-global': 'yes' } } } } });
    const r = await h.request('/no-such-route');
    expect(r.status).toBe(404);
    expect(r.headers['x-global']).toBe('yes');
    expect(r.json()).toEqual({ error_msg: '404 Route Not Found' });
  });

  it('without global rules an unmatched request is a plain 404', async () => {
    const r = await h.request('/no-such-route');
    expect(r.status).toBe(404);
    expect(r.headers['x-ratelimit-limit']).toBeUndefined();
    expect(r.headers['x-global']).toBeUndefined();
  });
});
