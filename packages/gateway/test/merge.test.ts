import './helpers/quiet-logs';
import { startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { startHarness, type Harness } from './helpers/harness';
import { GatewayTables } from '../src/config/gateway-tables';
import { PoolManager } from '../src/upstream/pools';
import { BUILTIN_PLUGINS } from '../src/plugins';
import type { ResourceChange } from '../src/config/config-sync';

/** SPEC §6 merge order: service base, plugin_config fills gaps, route overrides, global rules first. */
describe('route merge with services, plugin_configs and global rules', () => {
  let h: Harness;
  let a: EchoUpstream;
  let b: EchoUpstream;
  const nodes = (u: EchoUpstream) => ({ nodes: { [`127.0.0.1:${u.port}`]: 1 } });
  const setHeader = (name: string, value: string) => ({ 'proxy-rewrite': { headers: { set: { [name]: value } } } });

  beforeAll(async () => {
    h = await startHarness();
    a = await startEchoUpstream({ name: 'a' });
    b = await startEchoUpstream({ name: 'b' });
  });
  afterAll(async () => {
    await h.close();
    await a.close();
    await b.close();
  });

  it('a route with only service_id uses the service upstream, plugins and hosts', async () => {
    await h.put('services/s1', { upstream: nodes(a), hosts: ['svc.example'], plugins: setHeader('x-from', 'service') });
    await h.put('routes/r1', { uri: '/svc', service_id: 's1' });
    const r = await h.request('/svc', { headers: { host: 'svc.example' } });
    expect(r.status).toBe(200);
    expect(r.headers['x-echo-name']).toBe('a');
    expect(r.json().headers['x-from']).toBe('service');
    // the service's hosts apply to a route without its own
    expect((await h.request('/svc', { headers: { host: 'other.example' } })).status).toBe(404);
  });

  it('the route overrides the service: plugins by name, upstream, hosts', async () => {
    await h.put('upstreams/ub', nodes(b));
    await h.put('routes/r2', { uri: '/over', hosts: ['route.example'], service_id: 's1', upstream_id: 'ub', plugins: setHeader('x-from', 'route') });
    const r = await h.request('/over', { headers: { host: 'route.example' } });
    expect(r.status).toBe(200);
    expect(r.headers['x-echo-name']).toBe('b');
    expect(r.json().headers['x-from']).toBe('route');
    expect((await h.request('/over', { headers: { host: 'svc.example' } })).status).toBe(404);
  });

  it('a service change reaches the routes that use it; deleting it makes them answer 404', async () => {
    await h.put('services/s1', { upstream: nodes(b), hosts: ['svc.example'], plugins: setHeader('x-from', 'service-v2') });
    const r = await h.request('/svc', { headers: { host: 'svc.example' } });
    expect(r.headers['x-echo-name']).toBe('b');
    expect(r.json().headers['x-from']).toBe('service-v2');
    await h.put('routes/r3', { uri: '/orphan', service_id: 'nope' });
    expect((await h.request('/orphan')).status).toBe(404);
    await h.put('services/nope', { upstream: nodes(a) });
    expect((await h.request('/orphan')).status).toBe(200);
  });

  it('a plugin_config adds plugins the route lacks and never overrides the route', async () => {
    await h.put('plugin_configs/pc1', { plugins: setHeader('x-from', 'plugin-config') });
    await h.put('routes/pc-only', { uri: '/pc', plugin_config_id: 'pc1', upstream: nodes(a) });
    await h.put('routes/pc-route', { uri: '/pc-route', plugin_config_id: 'pc1', upstream: nodes(a), plugins: setHeader('x-from', 'route') });
    expect((await h.request('/pc')).json().headers['x-from']).toBe('plugin-config');
    expect((await h.request('/pc-route')).json().headers['x-from']).toBe('route');
    // the plugin_config overrides the service (it is merged into the route first)
    await h.put('routes/pc-svc', { uri: '/pc-svc', plugin_config_id: 'pc1', service_id: 's1' });
    expect((await h.request('/pc-svc', { headers: { host: 'svc.example' } })).json().headers['x-from']).toBe('plugin-config');
    await h.put('plugin_configs/pc1', { plugins: setHeader('x-from', 'plugin-config-v2') });
    expect((await h.request('/pc')).json().headers['x-from']).toBe('plugin-config-v2');
    await h.del('plugin_configs/pc1');
    expect((await h.request('/pc')).status).toBe(503);
  });

  it('global rules run before route plugins in each phase, and stop applying when deleted', async () => {
    await h.put('routes/g', { uri: '/g', upstream: nodes(a), plugins: { 'proxy-rewrite': { headers: { add: { 'x-order': 'route' } } } } });
    await h.put('global_rules/1', { plugins: { 'proxy-rewrite': { headers: { set: { 'x-order': 'global', 'x-global': 'yes' } } } } });
    let e = (await h.request('/g')).json();
    // the route's `add` ran after the global `set`
    expect(e.headers['x-order']).toBe('global, route');
    expect(e.headers['x-global']).toBe('yes');
    // a route without plugins gets them too
    expect((await h.request('/orphan')).json().headers['x-global']).toBe('yes');
    await h.del('global_rules/1');
    e = (await h.request('/g')).json();
    expect(e.headers['x-order']).toBe('route');
    expect(e.headers['x-global']).toBeUndefined();
  });
});

describe('GatewayTables reverse index', () => {
  let rev = 0;
  const put = (resource: string, id: string, value: object): ResourceChange => ({
    type: 'put',
    item: { key: `/apisix/${resource}/${id}`, ref: { resource: resource as any, id }, value: value as any, createRevision: ++rev, modRevision: rev },
  });

  it('a service or plugin_config change rebuilds only the routes that reference it', () => {
    const pools = new PoolManager({ lingerMs: 0 });
    const t = new GatewayTables({ pools, plugins: BUILTIN_PLUGINS });
    const up = { nodes: { '127.0.0.1:1': 1 } };
    t.apply([
      put('services', 's1', { upstream: up }),
      put('services', 's2', { upstream: up }),
      put('plugin_configs', 'p1', { plugins: {} }),
      put('routes', 'on-s1', { uri: '/1', service_id: 's1' }),
      put('routes', 'on-s2', { uri: '/2', service_id: 's2' }),
      put('routes', 'on-p1', { uri: '/3', plugin_config_id: 'p1', upstream: up }),
      put('upstreams', 'u', up),
      put('routes', 'on-u', { uri: '/4', upstream_id: 'u' }),
    ]);
    const before = new Map(t.routes);
    t.apply([put('services', 's1', { upstream: { nodes: { '127.0.0.1:2': 1 } } })]);
    expect(t.routes.get('on-s1')).not.toBe(before.get('on-s1'));
    expect(t.routes.get('on-s1')!.upstream!.targets[0].node.port).toBe(2);
    for (const id of ['on-s2', 'on-p1', 'on-u']) expect(t.routes.get(id)).toBe(before.get(id));

    t.apply([put('plugin_configs', 'p1', { plugins: { 'proxy-rewrite': { uri: '/x' } } })]);
    expect(t.routes.get('on-p1')!.chain.names).toEqual(['proxy-rewrite']);
    for (const id of ['on-s2', 'on-u']) expect(t.routes.get(id)).toBe(before.get(id));

    // an upstream change rebuilds nothing: routes hold its id
    const afterPc = new Map(t.routes);
    t.apply([put('upstreams', 'u', { nodes: { '127.0.0.1:3': 1 } })]);
    for (const [id, r] of afterPc) expect(t.routes.get(id)).toBe(r);

    // a route that leaves a service is no longer rebuilt by it
    t.apply([put('routes', 'on-s1', { uri: '/1', upstream: up })]);
    const moved = t.routes.get('on-s1');
    t.apply([put('services', 's1', { upstream: up })]);
    expect(t.routes.get('on-s1')).toBe(moved);
    t.close();
    return pools.close(100);
  });
});
