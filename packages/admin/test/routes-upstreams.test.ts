import './helpers/quiet-logs';
import { ConfigStore } from '@portico/core';
import { Harness, openTestStore, startHarness, testConfig } from './helpers/admin-harness';

/** Delegates to `store`, running `hook` after a get/range, as a concurrent writer would. */
function withInterleavedWriter(store: ConfigStore, hook: { afterGet?: (key: string) => Promise<void>; afterRange?: (prefix: string, revision: number) => Promise<void> }): ConfigStore {
  return {
    kind: store.kind,
    get: async (key) => {
      const r = await store.get(key);
      await hook.afterGet?.(key);
      return r;
    },
    range: async (prefix) => {
      const r = await store.range(prefix);
      await hook.afterRange?.(prefix, r.revision);
      return r;
    },
    put: (k, v, o) => store.put(k, v, o),
    delete: (k, o) => store.delete(k, o),
    watch: (p, r, c) => store.watch(p, r, c),
    grantLease: (t) => store.grantLease(t),
    close: () => store.close(),
  };
}

const upstream = { type: 'roundrobin', nodes: { 'httpbin.org:80': 1 } };
const route = (extra: Record<string, unknown> = {}) => ({ uri: '/anything', upstream, ...extra });
const INVALID_ID = 'invalid configuration: property "id" validation failed: object matches none of the required';

describe('admin API: routes and upstreams', () => {
  let h: Harness;
  let clock = 1_700_000_000;

  beforeAll(async () => {
    h = await startHarness({ now: () => clock });
  });
  afterAll(async () => {
    await h.close();
  });

  it('creates (201), replaces (200) keeping create_time, reads and deletes a route', async () => {
    clock = 1_700_000_000;
    const created = await h.call('PUT', '/apisix/admin/routes/r1', route());
    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      key: '/apisix/routes/r1',
      value: { id: 'r1', ...route(), create_time: 1_700_000_000, update_time: 1_700_000_000 },
    });
    expect(created.headers.get('x-api-version')).toBe('v3');
    const rev1 = Number(created.headers.get('x-config-revision'));
    expect(rev1).toBeGreaterThan(0);

    const first = await h.call('GET', '/apisix/admin/routes/r1');
    expect(first.status).toBe(200);
    expect(first.json).toEqual({ key: '/apisix/routes/r1', value: created.json.value, createdIndex: rev1, modifiedIndex: rev1 });
    expect(first.headers.get('x-config-revision')).toBeNull();

    clock += 60;
    const replaced = await h.call('PUT', '/apisix/admin/routes/r1', route({ uri: '/other', name: 'n' }));
    expect(replaced.status).toBe(200);
    expect(replaced.json.value).toEqual({ id: 'r1', uri: '/other', name: 'n', upstream, create_time: 1_700_000_000, update_time: 1_700_000_060 });
    const rev2 = Number(replaced.headers.get('x-config-revision'));
    expect(rev2).toBeGreaterThan(rev1);

    const second = await h.call('GET', '/apisix/admin/routes/r1');
    expect(second.json).toMatchObject({ createdIndex: rev1, modifiedIndex: rev2 });

    const deleted = await h.call('DELETE', '/apisix/admin/routes/r1');
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual({ deleted: '1', key: '/apisix/routes/r1' });
    expect(Number(deleted.headers.get('x-config-revision'))).toBeGreaterThan(rev2);

    for (const method of ['GET', 'DELETE']) {
      const gone = await h.call(method, '/apisix/admin/routes/r1');
      expect([gone.status, gone.json]).toEqual([404, { message: 'Key not found' }]);
    }
  });

  it('does not store or echo schema defaults', async () => {
    const r = await h.call('PUT', '/apisix/admin/routes/defaults', route());
    expect(r.json.value).not.toHaveProperty('priority');
    expect(r.json.value).not.toHaveProperty('status');
    expect(r.json.value.upstream).toEqual(upstream);
  });

  it('lists upstreams in creation order with createdIndex, and an empty collection as an empty list', async () => {
    expect((await h.call('GET', '/apisix/admin/upstreams')).json).toEqual({ list: [], total: 0 });
    // Created b before a: creation order differs from key order.
    await h.call('PUT', '/apisix/admin/upstreams/b', { nodes: { 'b:80': 1 } });
    await h.call('PUT', '/apisix/admin/upstreams/a', { nodes: { 'a:80': 1 } });
    const list = await h.call('GET', '/apisix/admin/upstreams/');
    expect(list.status).toBe(200);
    expect(list.json.total).toBe(2);
    expect(list.json.list.map((i: { key: string }) => i.key)).toEqual(['/apisix/upstreams/b', '/apisix/upstreams/a']);
    expect(list.json.list[0]).toEqual({
      key: '/apisix/upstreams/b', value: expect.objectContaining({ id: 'b', nodes: { 'b:80': 1 } }),
      createdIndex: expect.any(Number), modifiedIndex: expect.any(Number),
    });
    expect(list.json.list[0].createdIndex).toBeLessThan(list.json.list[1].createdIndex);
    await h.call('DELETE', '/apisix/admin/upstreams/a');
    await h.call('DELETE', '/apisix/admin/upstreams/b');
  });

  it('POST generates increasing 20-digit ids for routes and upstreams', async () => {
    const ids: string[] = [];
    for (const [path, body] of [['routes', route()], ['routes', route()], ['upstreams', { nodes: { 'x:1': 1 } }]] as const) {
      const r = await h.call('POST', `/apisix/admin/${path}`, body);
      expect(r.status).toBe(201);
      expect(r.json.value.id).toMatch(/^\d{20}$/);
      expect(r.json.key).toBe(`/apisix/${path}/${r.json.value.id}`);
      expect(r.headers.get('x-config-revision')).toMatch(/^\d+$/);
      expect((await h.call('GET', `/apisix/admin/${path}/${r.json.value.id}`)).status).toBe(200);
      ids.push(r.json.value.id);
    }
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
  });

  // [method, path, body, status, reply]
  it.each<[string, string, unknown, number, unknown]>([
    ['PUT', '/routes/1', route({ id: '2' }), 400, { error_msg: 'wrong route id' }],
    ['PUT', '/routes/1', route({ id: { a: 1 } }), 400, { error_msg: 'wrong route id' }],
    ['PUT', '/upstreams/u1', { id: 'u2', nodes: {} }, 400, { error_msg: 'wrong upstream id' }],
    ['PUT', '/routes', route(), 400, { error_msg: 'missing route id' }],
    ['PUT', '/upstreams', { nodes: {} }, 400, { error_msg: 'missing upstream id' }],
    ['POST', '/routes', route({ id: 'x' }), 400, { error_msg: 'wrong route id, do not need it' }],
    ['POST', '/routes/x', route(), 400, { error_msg: 'wrong route id, do not need it' }],
    ['POST', '/upstreams', { id: 1, nodes: {} }, 400, { error_msg: 'wrong upstream id, do not need it' }],
    ['POST', '/routes', undefined, 400, { error_msg: 'missing configurations' }],
    ['PUT', '/routes/1', undefined, 400, { error_msg: 'missing configurations' }],
    ['PUT', '/routes/1', '', 400, { error_msg: 'missing configurations' }],
    ['PUT', '/routes/a%20b', route(), 400, { error_msg: INVALID_ID }],
    ['PUT', `/routes/${'x'.repeat(65)}`, route(), 400, { error_msg: INVALID_ID }],
    ['PUT', '/routes', route({ id: 0 }), 400, { error_msg: INVALID_ID }],
    ['PUT', '/routes', route({ id: -3 }), 400, { error_msg: INVALID_ID }],
    ['PUT', '/routes', route({ id: 1.5 }), 400, { error_msg: INVALID_ID }],
    ['PUT', '/routes', route({ id: true }), 400, { error_msg: INVALID_ID }],
    ['PUT', '/routes', route({ id: '' }), 400, { error_msg: INVALID_ID }],
    ['PUT', '/routes', '{"id": 1e21, "uri": "/", "upstream": {"nodes": {}}}', 400, { error_msg: INVALID_ID }],
    ['PUT', '/routes/1', route({ create_time: 1 }), 400, { error_msg: 'the property is forbidden:  create_time' }],
    ['PUT', '/routes/1', route({ update_time: 1 }), 400, { error_msg: 'the property is forbidden:  update_time' }],
    ['POST', '/routes', route({ create_time: 1 }), 400, { error_msg: 'the property is forbidden:  create_time' }],
    ['PUT', '/routes/1', 'garbage', 400, { error_msg: 'invalid request body: Unexpected token \'g\', "garbage" is not valid JSON' }],
    ['PUT', '/routes/1', '{"uri":', 400, { error_msg: 'invalid request body: Unexpected end of JSON input' }],
    ['PUT', '/routes/1', '[1,2]', 400, { error_msg: 'invalid configuration: wrong type: expected object, got array' }],
    ['PUT', '/routes/1', 'null', 400, { error_msg: 'invalid configuration: wrong type: expected object, got null' }],
    ['PUT', '/routes/1', '42', 400, { error_msg: 'invalid configuration: wrong type: expected object, got number' }],
    ['PUT', '/routes/1', route({ uri: 1 }), 400, { error_msg: 'invalid configuration: property "uri" validation failed: wrong type: expected string, got number' }],
    ['PUT', '/routes/1', route({ foo: 1 }), 400, { error_msg: 'invalid configuration: additional properties forbidden, found foo' }],
    ['PUT', '/routes/1', { uri: '/' }, 400, { error_msg: 'invalid configuration: at least one of plugins, upstream, upstream_id or service_id is required' }],
    ['PUT', '/routes/1', route({ plugins: { nope: {} } }), 400, { error_msg: 'unknown plugin [nope]' }],
    ['PUT', '/routes/1', route({ plugins: { 'key-auth': { header: 1 } } }), 400,
      { error_msg: 'failed to check the configuration of plugin key-auth err: property "header" validation failed: wrong type: expected string, got number' }],
    ['PUT', '/routes/1', { uri: '/', upstream_id: 'nope' }, 400,
      { error_msg: 'failed to fetch upstream info by upstream id [nope], response code: 404' }],
    ['PUT', '/routes/1', { uri: '/', upstream_id: 7 }, 400,
      { error_msg: 'failed to fetch upstream info by upstream id [7], response code: 404' }],
    ['PUT', '/routes/1', { uri: '/', service_id: 's1' }, 400,
      { error_msg: 'failed to fetch service info by service id [s1], response code: 404' }],
    ['PUT', '/upstreams/c', { type: 'chash', nodes: { 'a:1': 1 } }, 400, { error_msg: 'missing key' }],
    ['PUT', '/routes/1', route({ upstream: { type: 'chash', hash_on: 'header', nodes: {} } }), 400, { error_msg: 'missing key' }],
    ['PUT', '/upstreams/1/x', { nodes: {} }, 404, { message: 'Key not found' }],
    ['GET', '/routes/a%2Fb', undefined, 404, { message: 'Key not found' }],
    ['GET', '/routes/1/extra', undefined, 404, { message: 'Key not found' }],
    ['DELETE', '/routes', undefined, 400, { error_msg: 'missing route id' }],
    ['DELETE', '/upstreams', undefined, 400, { error_msg: 'missing upstream id' }],
    ['PATCH', '/routes/never-created', route(), 404, { message: 'Key not found' }],
    ['OPTIONS', '/routes', undefined, 405, { error_msg: 'not supported `OPTIONS` method for route' }],
  ])('%s %s %j → %d', async (method, path, body, status, reply) => {
    const r = await h.call(method, `/apisix/admin${path}`, body);
    expect([r.status, r.json]).toEqual([status, reply]);
    expect(r.headers.get('x-api-version')).toBe('v3');
    expect(r.headers.get('x-config-revision')).toBeNull();
  });

  it('accepts an id given only in the body, and an integer id equal to the path id', async () => {
    const a = await h.call('PUT', '/apisix/admin/routes', route({ id: 'key-auth-route', plugins: { 'key-auth': {} } }));
    expect([a.status, a.json.key, a.json.value.id]).toEqual([201, '/apisix/routes/key-auth-route', 'key-auth-route']);
    const b = await h.call('PUT', '/apisix/admin/routes/77', route({ id: 77 }));
    expect([b.status, b.json.key, b.json.value.id]).toEqual([201, '/apisix/routes/77', '77']);
    const c = await h.call('PUT', '/apisix/admin/upstreams', { id: 78, nodes: { 'a:1': 1 } });
    expect([c.status, c.json.key, c.json.value.id]).toEqual([201, '/apisix/upstreams/78', 78]);
  });

  it('checks upstream_id, and guards the upstream while a route uses it (unless force=true)', async () => {
    expect((await h.call('PUT', '/apisix/admin/upstreams/used', { nodes: { 'a:1': 1 } })).status).toBe(201);
    expect((await h.call('PUT', '/apisix/admin/routes/user', { uri: '/u', upstream_id: 'used' })).status).toBe(201);
    const refused = await h.call('DELETE', '/apisix/admin/upstreams/used');
    expect([refused.status, refused.json]).toEqual([400, { error_msg: 'can not delete this upstream, route [user] is still using it now' }]);
    expect((await h.call('GET', '/apisix/admin/upstreams/used')).status).toBe(200);
    const forced = await h.call('DELETE', '/apisix/admin/upstreams/used?force=true');
    expect([forced.status, forced.json]).toEqual([200, { deleted: '1', key: '/apisix/upstreams/used' }]);
  });

  it('answers HEAD like GET without a body', async () => {
    await h.call('PUT', '/apisix/admin/routes/head', route());
    const r = await h.call('HEAD', '/apisix/admin/routes/head');
    expect([r.status, r.text]).toEqual([200, '']);
  });
});

describe('admin API: store details', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers concurrent PUTs of one new key with exactly one 201 and a single create_time', async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      h.call('PUT', '/apisix/admin/upstreams/race', { nodes: { [`n${i}:80`]: 1 } })));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(replies.map((r) => r.json.value.create_time)).size).toBe(1);
    const revisions = replies.map((r) => Number(r.headers.get('x-config-revision')));
    expect(new Set(revisions).size).toBe(8);
    // The stored value is the one with the highest revision: last writer wins.
    const last = replies[revisions.indexOf(Math.max(...revisions))];
    expect((await h.call('GET', '/apisix/admin/upstreams/race')).json.value).toEqual(last.json.value);
  });

  it('keeps the create_time of a key another writer created between our read and our write', async () => {
    const { store, cleanup } = await openTestStore();
    let raced = false;
    const racing = withInterleavedWriter(store, {
      afterGet: async (key) => {
        if (raced || key !== '/apisix/upstreams/raced') return;
        raced = true;
        await store.put(key, JSON.stringify({ id: 'raced', nodes: {}, create_time: 111, update_time: 111 }));
      },
    });
    const other = await startHarness({ store: racing, now: () => 222 });
    try {
      const r = await other.call('PUT', '/apisix/admin/upstreams/raced', { nodes: { 'a:1': 1 } });
      expect(raced).toBe(true);
      // Not 201: the key existed by the time we wrote it.
      expect([r.status, r.json.value]).toEqual([200, { id: 'raced', nodes: { 'a:1': 1 }, create_time: 111, update_time: 222 }]);
    } finally {
      await other.close();
      await cleanup();
    }
  });

  it('POST picks another id when its first choice was taken meanwhile', async () => {
    const { store, cleanup } = await openTestStore();
    let taken: string | undefined;
    const racing = withInterleavedWriter(store, {
      afterRange: async (prefix, revision) => {
        if (taken || !prefix.endsWith('/#/')) return;
        taken = String(revision + 1).padStart(20, '0');
        await store.put(`/apisix/routes/${taken}`, JSON.stringify({ id: taken, uri: '/taken', upstream }));
      },
    });
    const other = await startHarness({ store: racing });
    try {
      const r = await other.call('POST', '/apisix/admin/routes', route());
      expect(r.status).toBe(201);
      expect(taken).toBeDefined();
      expect(r.json.value.id > taken!).toBe(true);
      expect(JSON.parse((await store.get(`/apisix/routes/${taken}`))!.value).uri).toBe('/taken');
    } finally {
      await other.close();
      await cleanup();
    }
  });

  it('shows a value written behind its back as stored, instead of failing', async () => {
    await h.store.put('/apisix/routes/raw', 'not json');
    const one = await h.call('GET', '/apisix/admin/routes/raw');
    expect([one.status, one.json.value]).toEqual([200, 'not json']);
    const list = await h.call('GET', '/apisix/admin/routes');
    expect(list.json.list.map((i: { value: unknown }) => i.value)).toContain('not json');
    // Keys outside the layout under the collection are not items.
    await h.store.put('/apisix/routes/raw/child', '{}');
    expect((await h.call('GET', '/apisix/admin/routes')).json.total).toBe(1);
  });

  it('builds keys under the configured prefix', async () => {
    const { store, cleanup } = await openTestStore();
    const other = await startHarness({ store, config: testConfig({ deployment: { admin: { admin_key_required: true }, etcd: { prefix: '/gw/' } } }) });
    try {
      const r = await other.call('PUT', '/apisix/admin/upstreams/1', { nodes: { 'a:1': 1 } });
      expect([r.status, r.json.key]).toEqual([201, '/gw/upstreams/1']);
      expect(await store.get('/gw/upstreams/1')).toBeDefined();
      expect((await other.call('PUT', '/apisix/admin/routes/1', { uri: '/', upstream_id: '1' })).status).toBe(201);
      expect((await other.call('GET', '/apisix/admin/routes')).json.list[0].key).toBe('/gw/routes/1');
      expect((await other.call('DELETE', '/apisix/admin/routes/1')).json).toEqual({ deleted: '1', key: '/gw/routes/1' });
    } finally {
      await other.close();
      await cleanup();
    }
  });
});
