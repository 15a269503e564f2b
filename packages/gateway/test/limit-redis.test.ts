import './helpers/quiet-logs';
import { validateResource } from '@portico/core';
import {
  startEchoUpstream, startRedis, startTcpProxy, waitFor,
  type EchoUpstream, type RedisProcess, type TcpProxy,
} from '@portico/testkit';
import { startHarness, type Harness } from './helpers/harness';

/**
 * The limit plugins' redis policy on one in-process gateway against a real redis-server:
 * headers and answers as APISIX, and what happens when Redis is away, slow, or back.
 */
describe('limit plugins with policy redis', () => {
  let h: Harness;
  let echo: EchoUpstream;
  let redis: RedisProcess;
  let proxy: TcpProxy;
  const upstream = () => ({ nodes: { [`127.0.0.1:${echo.port}`]: 1 } });
  /** Redis through the tcp proxy (which can delay or cut it). */
  const viaProxy = (over: Record<string, unknown> = {}) => ({ policy: 'redis', redis_host: '127.0.0.1', redis_port: proxy.port, redis_password: 'pw-limits', redis_timeout: 300, ...over });
  const metric = async (outcome: string, plugin = 'limit-count') => {
    const text = await (await fetch(`http://127.0.0.1:${h.metricsPort}/metrics`)).text();
    const m = new RegExp(`portico_limit_store_failures_total\\{plugin="${plugin}",outcome="${outcome}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };

  beforeAll(async () => {
    [echo, redis] = await Promise.all([startEchoUpstream({ name: 'echo' }), startRedis({ password: 'pw-limits' })]);
    proxy = await startTcpProxy(redis.port);
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
    await proxy.close();
    await redis.stop();
    await echo.close();
  });
  afterEach(() => {
    proxy.setDelay(0);
    proxy.heal();
  });

  it('limit-count counts in redis with the X-RateLimit headers, rejects over the count', async () => {
    await h.put('routes/c1', { uri: '/c1', plugins: { 'limit-count': { count: 2, time_window: 60, rejected_code: 429, ...viaProxy() } }, upstream: upstream() });
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await h.request('/c1'));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(replies.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['1', '0', '0']);
    expect(replies[0].headers['x-ratelimit-limit']).toBe('2');
    const reset = Number(replies[2].headers['x-ratelimit-reset']);
    expect(reset).toBeGreaterThan(55);
    expect(reset).toBeLessThanOrEqual(60);
    // the counter is in redis, under a key naming the plugin and never the password
    const keys = (await redis.command('KEYS', 'portico:limit-count:*')) as string[];
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^portico:limit-count:limit-count:route:c1:[\w-]+:127\.0\.0\.1$/);
    expect(await redis.command('GET', keys[0])).toBe('3');
  });

  it('redis unreachable: 500 "failed to limit count" without allow_degradation, through with it; counted in metrics; back without restart', async () => {
    await h.put('routes/c2', { uri: '/c2', plugins: { 'limit-count': { count: 100, time_window: 60, ...viaProxy() } }, upstream: upstream() });
    await h.put('routes/c3', { uri: '/c3', plugins: { 'limit-count': { count: 100, time_window: 60, allow_degradation: true, ...viaProxy() } }, upstream: upstream() });
    expect((await h.request('/c2')).status).toBe(200);
    const rejectedBefore = await metric('rejected');
    const degradedBefore = await metric('degraded');
    proxy.partition();
    const t0 = Date.now();
    const down = await h.request('/c2');
    expect(down.status).toBe(500);
    expect(down.json()).toEqual({ error_msg: 'failed to limit count' });
    const through = await h.request('/c3');
    expect(through.status).toBe(200);
    expect(through.headers['x-ratelimit-limit']).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(5000); // bounded by redis_timeout (300 ms), never a hang
    expect(await metric('rejected')).toBeGreaterThan(rejectedBefore);
    expect(await metric('degraded')).toBeGreaterThan(degradedBefore);
    proxy.heal();
    await waitFor(async () => (await h.request('/c2')).status === 200, { timeoutMs: 5000, what: 'limit-count to use redis again' });
    const back = await h.request('/c3');
    expect(back.headers['x-ratelimit-limit']).toBe('100');
  });

  it('a redis slower than redis_timeout fails the request in time; faster again, it counts again', async () => {
    await h.put('routes/c4', { uri: '/c4', plugins: { 'limit-count': { count: 100, time_window: 60, allow_degradation: true, ...viaProxy({ redis_timeout: 100 }) } }, upstream: upstream() });
    expect((await h.request('/c4')).headers['x-ratelimit-remaining']).toBe('99');
    proxy.setDelay(1500); // far past redis_timeout: an answer within the bound below did not wait for redis (≥ 3 s)
    const t0 = Date.now();
    const slow = await h.request('/c4');
    expect(slow.status).toBe(200);
    expect(slow.headers['x-ratelimit-remaining']).toBeUndefined(); // degraded: no quota known
    expect(Date.now() - t0).toBeLessThan(2500);
    proxy.setDelay(0);
    await waitFor(async () => (await h.request('/c4')).headers['x-ratelimit-remaining'] !== undefined, { timeoutMs: 5000, what: 'counting again' });
  });

  it('redis restarted empty: NOSCRIPT is handled, counting resumes', async () => {
    await h.put('routes/c5', { uri: '/c5', plugins: { 'limit-count': { count: 5, time_window: 60, ...viaProxy() } }, upstream: upstream() });
    expect((await h.request('/c5')).status).toBe(200);
    await redis.kill();
    await redis.restart();
    await waitFor(async () => (await h.request('/c5')).status === 200, { timeoutMs: 5000, what: 'limit-count after the restart' });
    const r = await h.request('/c5');
    expect(Number(r.headers['x-ratelimit-remaining'])).toBeLessThan(5);
  });

  it('limit-req and limit-conn on redis; their failures answer a bare 500', async () => {
    await h.put('routes/r1', { uri: '/r1', plugins: { 'limit-req': { rate: 0.1, burst: 1, key: 'remote_addr', nodelay: true, rejected_code: 429, ...viaProxy() } }, upstream: upstream() });
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await h.request('/r1')).status);
    expect(codes).toEqual([200, 200, 429]);
    await h.put('routes/n1', { uri: '/n1', plugins: { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr', rejected_code: 429, ...viaProxy() } }, upstream: upstream() });
    // sequential requests each finish before the next: never over the limit
    for (let i = 0; i < 3; i++) expect((await h.request('/n1')).status).toBe(200);
    await waitFor(async () => ((await redis.command('KEYS', 'portico:limit-conn:*')) as string[]).length === 0 ||
      (await redis.command('ZCARD', ((await redis.command('KEYS', 'portico:limit-conn:*')) as string[])[0])) === 0, { what: 'slots released' });
    proxy.partition();
    const req = await h.request('/r1');
    expect([req.status, req.text]).toEqual([500, '']);
    const conn = await h.request('/n1');
    expect([conn.status, conn.text]).toEqual([500, '']);
  });

  it('schema: the policy conditionals and messages of APISIX', () => {
    const check = (conf: Record<string, unknown>) => validateResource('route', { uri: '/x', plugins: { 'limit-count': { count: 1, time_window: 1, ...conf } } });
    expect(check({ policy: 'redis' })).toEqual({ ok: false, message: 'failed to check the configuration of plugin limit-count err: then clause did not match' });
    expect(check({ policy: 'redis-cluster', redis_cluster_nodes: ['127.0.0.1:7000'] })).toEqual({ ok: false, message: 'failed to check the configuration of plugin limit-count err: else clause did not match' });
    expect(check({ policy: 'redis', redis_host: '127.0.0.1', redis_password: '$secret://vault/1/redis' })).toEqual({ ok: true });
    expect(check({ policy: 'redis-cluster', redis_cluster_nodes: ['127.0.0.1:7000'], redis_cluster_name: 'c' })).toEqual({ ok: true });
    expect(check({ policy: 'redis', redis_host: '127.0.0.1', redis_timeout: 0 }).ok).toBe(false);
    expect(check({ policy: 'memcached' }).ok).toBe(false);
    const req = validateResource('route', { uri: '/x', plugins: { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr', policy: 'redis' } } });
    expect(req).toEqual({ ok: false, message: 'failed to check the configuration of plugin limit-req err: then clause did not match' });
    const conn = validateResource('route', { uri: '/x', plugins: { 'limit-conn': { conn: 1, burst: 0, default_conn_delay: 0.1, key: 'remote_addr', policy: 'redis' } } });
    expect(conn).toEqual({ ok: false, message: 'failed to check the configuration of plugin limit-conn err: then clause did not match' });
  });
});
