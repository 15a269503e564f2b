import './helpers/quiet-logs';
import { validateResource } from '@portico/core';
import { startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { startHarness, type Harness } from './helpers/harness';

/** SPEC §6: after authentication, consumer_group then consumer plugins override the route's by name. */
describe('consumer and consumer_group plugins through the proxy', () => {
  let h: Harness;
  let echo: EchoUpstream;
  const upstream = () => ({ nodes: { [`127.0.0.1:${echo.port}`]: 1 } });
  const as = (key: string, path = '/cp/x') => h.request(path, { headers: { apikey: key } });

  beforeAll(async () => {
    echo = await startEchoUpstream({ name: 'echo' });
    h = await startHarness();
    await h.put('consumer_groups/gold', {
      plugins: {
        'proxy-rewrite': { headers: { set: { 'x-tier': 'gold', 'x-from': 'group' } } },
        'limit-count': { count: 5, time_window: 60, key_type: 'constant', key: 'gold' },
      },
    });
    // plain: no plugins of its own; grouped: group only; vip: group + own proxy-rewrite (wins)
    await h.put('consumers/plain', { username: 'plain', plugins: { 'key-auth': { key: 'plain-key' } } });
    await h.put('consumers/grouped', { username: 'grouped', group_id: 'gold', plugins: { 'key-auth': { key: 'grouped-key' } } });
    await h.put('consumers/vip', {
      username: 'vip', group_id: 'gold',
      plugins: { 'key-auth': { key: 'vip-key' }, 'proxy-rewrite': { headers: { set: { 'x-from': 'consumer' } } } },
    });
    await h.put('routes/cp', {
      uri: '/cp/*',
      plugins: {
        'key-auth': {},
        'proxy-rewrite': { headers: { set: { 'x-from': 'route', 'x-route-only': 'yes' } } },
        'limit-count': { count: 2, time_window: 60, key_type: 'constant', key: 'route' },
      },
      upstream: upstream(),
    });
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
  });

  it('a consumer without plugins runs the route plugins as they are', async () => {
    const r = await as('plain-key');
    expect(r.json().headers['x-from']).toBe('route');
    expect(r.json().headers['x-route-only']).toBe('yes');
    expect(r.headers['x-ratelimit-limit']).toBe('2');
  });

  it('group plugins replace the route plugins of the same name from the access phase on', async () => {
    const r = await as('grouped-key');
    expect(r.status).toBe(200);
    expect(r.json().headers['x-from']).toBe('group');
    expect(r.json().headers['x-tier']).toBe('gold');
    // As APISIX: the route's rewrite phase ran before the consumer was known (proxy-rewrite
    // is a rewrite plugin); the group's proxy-rewrite then runs its rewrite over it.
    expect(r.json().headers['x-route-only']).toBe('yes');
    // limit-count is an access plugin: the group's conf replaces the route's whole
    expect(r.headers['x-ratelimit-limit']).toBe('5');
  });

  it('consumer plugins override the group\'s; the rest of the group still applies', async () => {
    const r = await as('vip-key');
    expect(r.json().headers['x-from']).toBe('consumer');
    expect(r.json().headers['x-tier']).toBeUndefined();
    expect(r.headers['x-ratelimit-limit']).toBe('5');
  });

  it('counters of a consumer-side limit live across requests; the route limit still binds other consumers', async () => {
    // 'plain' used 1 of 2 above; grouped+vip share the group's constant key: 2 used of 5
    expect((await as('plain-key')).status).toBe(200);
    expect((await as('plain-key')).status).toBe(503);
    const remaining = [];
    for (let i = 0; i < 3; i++) remaining.push((await as('grouped-key')).headers['x-ratelimit-remaining']);
    expect(remaining).toEqual(['2', '1', '0']);
    expect((await as('vip-key')).status).toBe(503);
  });

  it('a group change applies to its consumers on their next request; an unknown group refuses its consumers with 503 (APISIX)', async () => {
    await h.put('routes/cp3', { uri: '/cp3', plugins: { 'key-auth': {}, 'proxy-rewrite': { headers: { set: { 'x-from': 'route' } } } }, upstream: upstream() });
    expect((await as('grouped-key', '/cp3')).status).toBe(503); // the group's quota, used up above
    await h.put('consumer_groups/gold', { plugins: { 'proxy-rewrite': { headers: { set: { 'x-tier': 'gold-2' } } } } });
    const r = await as('grouped-key', '/cp3');
    expect(r.json().headers['x-tier']).toBe('gold-2');
    expect(r.json().headers['x-from']).toBe('route');
    await h.put('consumers/grouped', { username: 'grouped', group_id: 'missing', plugins: { 'key-auth': { key: 'grouped-key' } } });
    const before = echo.requests;
    const r2 = await as('grouped-key', '/cp3');
    expect(r2.status).toBe(503);
    expect(r2.json()).toEqual({ error_msg: 'failed to fetch consumer group config by id: missing' });
    expect(echo.requests).toBe(before);
    expect((await as('plain-key', '/cp3')).status).toBe(200); // consumers without a group are unaffected
    // the group appearing lets its consumers in again, with its plugins
    await h.put('consumer_groups/missing', { plugins: { 'proxy-rewrite': { headers: { set: { 'x-tier': 'late' } } } } });
    const r3 = await as('grouped-key', '/cp3');
    expect(r3.status).toBe(200);
    expect(r3.json().headers['x-tier']).toBe('late');
  });

  it('global rules are not overridden by consumer plugins', async () => {
    await h.put('global_rules/g1', { plugins: { 'response-rewrite': { headers: { set: { 'x-global': 'yes' } } } } });
    await h.put('consumers/rr', { username: 'rr', plugins: { 'key-auth': { key: 'rr-key' }, 'response-rewrite': { headers: { set: { 'x-consumer-rr': 'yes' } } } } });
    await h.put('routes/cp2', { uri: '/cp2', plugins: { 'key-auth': {} }, upstream: upstream() });
    const r = await as('rr-key', '/cp2');
    expect(r.status).toBe(200);
    expect(r.headers['x-global']).toBe('yes');
    expect(r.headers['x-consumer-rr']).toBe('yes');
    await h.del('global_rules/g1');
  });
});

describe('validation of consumer-side plugins', () => {
  it('consumers take auth plugins by consumer schema and others by route schema; credentials only auth', () => {
    expect(validateResource('consumer', { username: 'a', plugins: { 'key-auth': { key: 'k' }, 'limit-count': { count: 1, time_window: 1 } } })).toEqual({ ok: true });
    const bad = validateResource('consumer', { username: 'a', plugins: { 'limit-count': { count: 0, time_window: 1 } } });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.message).toMatch(/^failed to check the configuration of plugin limit-count err: /);
    const cred = validateResource('credential', { plugins: { 'proxy-rewrite': { uri: '/x' } } });
    expect(!cred.ok && cred.message).toBe('failed to check the configuration of plugin proxy-rewrite err: only auth plugins can be used on a credential');
    expect(validateResource('credential', { plugins: { 'basic-auth': { username: 'u', password: 'p' } } })).toEqual({ ok: true });
    expect(validateResource('consumer', { username: 'a', plugins: { 'jwt-auth': { key: 'k', algorithm: 'RS256' } } }).ok).toBe(false);
    expect(validateResource('consumer', { username: 'a', plugins: { 'jwt-auth': { key: 'k' } } }).ok).toBe(false);
    expect(validateResource('consumer', { username: 'a', plugins: { 'jwt-auth': { key: 'k', secret: 's' } } })).toEqual({ ok: true });
  });
});
