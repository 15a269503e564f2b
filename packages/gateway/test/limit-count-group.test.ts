import './helpers/quiet-logs';
import { startAdminServer, type AdminServer } from '@portico/admin';
import { startEchoUpstream, waitFor, type EchoUpstream } from '@portico/testkit';
import { PREFIX, startHarness, testConfig, type Harness } from './helpers/harness';

/**
 * limit-count `group` (apache/apisix apisix/plugins/limit-count/init.lua): every conf with the
 * same group counts on one counter per key (`group:key`), and a conf that differs from the
 * group's first one is refused with `group conf mismatched`. Through the real Admin API, the
 * real proxy and a real upstream, sharing one store.
 */
describe('limit-count group', () => {
  const ADMIN_KEY = 'edd1c9f034335f136f87ad84b625c8f1';
  let h: Harness;
  let admin: AdminServer;
  let echo: EchoUpstream;
  const upstream = () => ({ nodes: { [`127.0.0.1:${echo.port}`]: 1 } });

  /** PUT through the Admin API; on success, waits until the gateway applied the write. */
  const put = async (path: string, body: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(`http://127.0.0.1:${admin.port}/apisix/admin/${path}`, {
      method: 'PUT',
      headers: { 'X-API-KEY': ADMIN_KEY, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (res.status < 300) {
      const kv = await h.store.get(`${PREFIX}/${path}`);
      await waitFor(() => h.gw.appliedRevision >= kv!.modRevision, { what: `${path} applied` });
    }
    return { status: res.status, json };
  };
  const route = (id: string, uri: string, limit: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    put(`routes/${id}`, { uri, plugins: { 'limit-count': limit }, upstream: upstream(), ...extra });
  const hit = async (path: string, headers: Record<string, string> = {}) => {
    const r = await h.request(path, { headers });
    return { status: r.status, remaining: r.headers['x-ratelimit-remaining'] };
  };

  beforeAll(async () => {
    echo = await startEchoUpstream({ name: 'echo' });
    h = await startHarness();
    admin = await startAdminServer({
      store: h.store,
      config: testConfig({ deployment: { admin: { admin_key_required: true } } }),
      adminKeys: [{ name: 'admin', key: ADMIN_KEY, role: 'admin' }],
      host: '127.0.0.1',
      port: 0,
    });
  });
  afterAll(async () => {
    await admin.close();
    await h.close();
    await echo.close();
  });

  test('routes in one group share one counter; another group and an ungrouped route count apart', async () => {
    const shared = { count: 3, time_window: 60, key_type: 'constant', key: 'all', group: 'shared' };
    expect((await route('a', '/a', shared)).status).toBe(201);
    expect((await route('b', '/b', shared)).status).toBe(201);
    expect((await route('c', '/c', { ...shared, group: 'other' })).status).toBe(201);
    expect((await route('d', '/d', { count: 3, time_window: 60, key_type: 'constant', key: 'all' })).status).toBe(201);

    expect(await hit('/a')).toEqual({ status: 200, remaining: '2' });
    expect(await hit('/a')).toEqual({ status: 200, remaining: '1' });
    expect(await hit('/b')).toEqual({ status: 200, remaining: '0' });
    expect((await hit('/b')).status).toBe(503);
    expect((await hit('/a')).status).toBe(503);
    // other counters are untouched
    expect(await hit('/c')).toEqual({ status: 200, remaining: '2' });
    expect(await hit('/d')).toEqual({ status: 200, remaining: '2' });
  });

  test('the counter is per key within the group', async () => {
    const perClient = { count: 1, time_window: 60, key: 'http_x_client', group: 'per-client' };
    await route('k1', '/k1', perClient);
    await route('k2', '/k2', perClient);
    expect((await hit('/k1', { 'x-client': 'alice' })).status).toBe(200);
    expect((await hit('/k2', { 'x-client': 'alice' })).status).toBe(503);
    expect((await hit('/k2', { 'x-client': 'bob' })).status).toBe(200);
    expect((await hit('/k1', { 'x-client': 'bob' })).status).toBe(503);
  });

  test('a group\'s counter outlives changes to its routes', async () => {
    const conf = { count: 2, time_window: 60, key_type: 'constant', key: 'x', group: 'sticky' };
    await route('s1', '/s1', conf);
    expect(await hit('/s1')).toEqual({ status: 200, remaining: '1' });
    // a change elsewhere in the route rebuilds its plugin chain; the group's count stays
    await route('s1', '/s1', conf, { name: 'renamed' });
    expect(await hit('/s1')).toEqual({ status: 200, remaining: '0' });
    expect((await hit('/s1')).status).toBe(503);
  });

  test('a consumer_group\'s limit-count in a group shares the routes\' counter', async () => {
    const conf = { count: 2, time_window: 60, key_type: 'constant', key: 'k', group: 'tenant' };
    expect((await put('consumer_groups/tenant', { plugins: { 'limit-count': conf } })).status).toBe(201);
    expect((await put('consumers/member', { username: 'member', group_id: 'tenant', plugins: { 'key-auth': { key: 'member-key' } } })).status).toBe(201);
    expect((await put('routes/authed', { uri: '/authed', plugins: { 'key-auth': {} }, upstream: upstream() })).status).toBe(201);
    await route('open', '/open', conf);
    expect(await hit('/open')).toEqual({ status: 200, remaining: '1' });
    expect(await hit('/authed', { apikey: 'member-key' })).toEqual({ status: 200, remaining: '0' });
    expect((await hit('/open')).status).toBe(503);
  });

  test('the Admin API refuses a conf that differs from its group\'s, as APISIX does', async () => {
    const conf = { count: 5, time_window: 60, group: 'strict' };
    expect((await route('g1', '/g1', conf)).status).toBe(201);
    for (const changed of [{ count: 6 }, { time_window: 61 }, { key: 'http_x_user' }, { rejected_code: 429 }, { show_limit_quota_header: false }]) {
      const r = await route('g2', '/g2', { ...conf, ...changed });
      expect([JSON.stringify(changed), r.status, r.json]).toEqual([JSON.stringify(changed), 400,
        { error_msg: 'failed to check the configuration of plugin limit-count err: group conf mismatched' }]);
    }
    // the route holding the group cannot change it either: a new limit needs a new group name
    expect((await route('g1', '/g1', { ...conf, count: 6 })).json.error_msg).toContain('group conf mismatched');
    expect((await route('g1', '/g1', { ...conf, count: 6, group: 'strict-v2' })).status).toBe(200);
    // defaults spelled out are the same conf (APISIX compares after filling them in); so is another _meta
    const same = { ...conf, key: 'remote_addr', key_type: 'var', rejected_code: 503, policy: 'local', allow_degradation: false, show_limit_quota_header: true };
    expect((await route('g3', '/g3', { ...same, _meta: { disable: false } })).status).toBe(201);
    // in a service or consumer_group the same rule holds
    const svc = await put('services/s', { plugins: { 'limit-count': { ...conf, count: 1 } } });
    expect([svc.status, svc.json.error_msg]).toEqual([400, 'failed to check the configuration of plugin limit-count err: group conf mismatched']);
    expect((await put('consumer_groups/cg', { plugins: { 'limit-count': { ...conf, count: 1 } } })).status).toBe(400);
  });

  test('a bad group is a schema error', async () => {
    const r = await route('bad', '/bad', { count: 1, time_window: 60, group: ['x'] });
    expect(r.status).toBe(400);
    expect(r.json.error_msg).toBe('failed to check the configuration of plugin limit-count err: property "group" validation failed: wrong type: expected string, got array');
  });

  test('a node skips a stored conf that differs from its group\'s (written around the Admin API), keeping the rest', async () => {
    await route('first', '/first', { count: 2, time_window: 60, group: 'raw' });
    const rev = await h.put('routes/sneaky', { uri: '/sneaky', plugins: { 'limit-count': { count: 100, time_window: 60, group: 'raw' } }, upstream: upstream() });
    expect(h.gw.appliedRevision).toBeGreaterThanOrEqual(rev);
    expect((await h.request('/sneaky')).status).toBe(404);
    expect((await h.request('/first')).status).toBe(200);
  });
});
