import './helpers/quiet-logs';
import { SecretResolver } from '@portico/secrets';
import { BUILTIN_PLUGINS, GatewayTables, PoolManager, type ResourceChange } from '../src';

/**
 * Routes with identical plugin sets and inline upstreams share one compiled runtime (memory
 * follows the distinct confs, not the number of routes), except where a runtime holds
 * per-route state.
 */
let rev = 0;
const put = (resource: string, id: string, value: object): ResourceChange => ({
  type: 'put',
  item: { key: `/apisix/${resource}/${id}`, ref: { resource: resource as any, id }, value: value as any, createRevision: ++rev, modRevision: rev },
});
const del = (resource: string, id: string, prev: ResourceChange): ResourceChange => ({
  type: 'delete', key: `/apisix/${resource}/${id}`, ref: { resource: resource as any, id }, prev: (prev as { item: any }).item,
});
const up = { type: 'roundrobin', nodes: { '127.0.0.1:1980': 1 } };

function tables() {
  const pools = new PoolManager({ lingerMs: 0 });
  return new GatewayTables({ pools, plugins: BUILTIN_PLUGINS, resolver: new SecretResolver({ ttlSeconds: 60, negTtlSeconds: 5, maxEntries: 10 }) });
}

describe('shared route runtimes', () => {
  it('identical stateless plugin sets share one chain; different confs do not', () => {
    const t = tables();
    t.apply([
      put('routes', 'a', { uri: '/a', upstream: up, plugins: { 'key-auth': {}, 'proxy-rewrite': { uri: '/x' } } }),
      put('routes', 'b', { uri: '/b', upstream: up, plugins: { 'key-auth': {}, 'proxy-rewrite': { uri: '/x' } } }),
      put('routes', 'c', { uri: '/c', upstream: up, plugins: { 'key-auth': {}, 'proxy-rewrite': { uri: '/y' } } }),
    ]);
    expect(t.routes.get('a')!.chain).toBe(t.routes.get('b')!.chain);
    expect(t.routes.get('c')!.chain).not.toBe(t.routes.get('a')!.chain);
    t.close();
  });

  it('limit counters stay per route: chains with limit-count or limit-req are never shared', () => {
    const t = tables();
    const limits = { 'limit-count': { count: 2, time_window: 60 }, 'key-auth': {} };
    t.apply([put('routes', 'a', { uri: '/a', upstream: up, plugins: limits }), put('routes', 'b', { uri: '/b', upstream: up, plugins: limits })]);
    expect(t.routes.get('a')!.chain).not.toBe(t.routes.get('b')!.chain);
    const req = { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr' } };
    t.apply([put('routes', 'c', { uri: '/c', upstream: up, plugins: req }), put('routes', 'd', { uri: '/d', upstream: up, plugins: req })]);
    expect(t.routes.get('c')!.chain).not.toBe(t.routes.get('d')!.chain);
    t.close();
  });

  it('confs with secret references are not shared', () => {
    const t = tables();
    const plugins = { 'proxy-rewrite': { headers: { set: { 'x-k': '$env://SOME_KEY' } } } };
    t.apply([put('routes', 'a', { uri: '/a', upstream: up, plugins }), put('routes', 'b', { uri: '/b', upstream: up, plugins })]);
    expect(t.routes.get('a')!.chain).not.toBe(t.routes.get('b')!.chain);
    t.close();
  });

  it('identical inline upstreams share one runtime until the last route lets go', () => {
    const t = tables();
    const a = put('routes', 'a', { uri: '/a', upstream: up });
    const b = put('routes', 'b', { uri: '/b', upstream: up });
    t.apply([a, b, put('routes', 'c', { uri: '/c', upstream: { ...up, nodes: { '127.0.0.1:1981': 1 } } })]);
    const shared = t.routes.get('a')!.upstream!;
    expect(t.routes.get('b')!.upstream).toBe(shared);
    expect(t.routes.get('c')!.upstream).not.toBe(shared);
    const dispose = jest.spyOn(shared, 'dispose');
    t.apply([del('routes', 'a', a)]);
    expect(dispose).not.toHaveBeenCalled(); // b still uses it
    expect(t.routes.get('b')!.upstream).toBe(shared);
    // b moves to another upstream: the last reference goes, the runtime is disposed
    t.apply([put('routes', 'b', { uri: '/b', upstream: { ...up, nodes: { '127.0.0.1:1982': 1 } } })]);
    expect(dispose).toHaveBeenCalledTimes(1);
    t.close();
  });

  it('inline upstreams with health checks stay per route (one checker per owner)', () => {
    const t = tables();
    const checked = { ...up, checks: { passive: { unhealthy: { http_statuses: [500], http_failures: 1 } } } };
    t.apply([put('routes', 'a', { uri: '/a', upstream: checked }), put('routes', 'b', { uri: '/b', upstream: checked })]);
    expect(t.routes.get('a')!.upstream).not.toBe(t.routes.get('b')!.upstream);
    t.close();
  });
});
