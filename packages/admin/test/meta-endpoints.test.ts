import './helpers/quiet-logs';
import Ajv2020 from 'ajv/dist/2020';
import { PLUGIN_DEFINITIONS, RESOURCE_SCHEMAS, SECRET_MANAGER_SCHEMAS, validateResource } from '@portico/core';
import { Harness, VIEWER_KEY, startHarness } from './helpers/admin-harness';
import { RESOURCE_FIXTURES } from './helpers/resource-fixtures';
import { ADMIN_RESOURCES } from '../src/resources';

const BASE = '/apisix/admin';

describe('plugins, schema, validate and openapi.json endpoints', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('GET plugins/list names the known plugins; plugins/{name} gives their schemas', async () => {
    const list = await h.call('GET', `${BASE}/plugins/list`);
    expect([list.status, list.json]).toEqual([200, Object.keys(PLUGIN_DEFINITIONS).sort()]);
    expect(list.json).toContain('key-auth');
    expect((await h.call('GET', `${BASE}/plugins/list?subsystem=stream`)).json).toEqual([]);
    const ka = PLUGIN_DEFINITIONS['key-auth'];
    expect((await h.call('GET', `${BASE}/plugins/key-auth`)).json).toEqual(ka.schema);
    expect((await h.call('GET', `${BASE}/plugins/key-auth?schema_type=consumer`)).json).toEqual(ka.consumerSchema);
    const all = await h.call('GET', `${BASE}/plugins?all=true`);
    expect(all.json['key-auth']).toMatchObject({ priority: 2500, type: 'auth', schema: ka.schema });
    // A viewer may read them.
    expect((await h.call('GET', `${BASE}/plugins/list`, undefined, { 'X-API-KEY': VIEWER_KEY })).status).toBe(200);
  });

  it.each<[string, string, number, unknown]>([
    ['GET', '/plugins/nope', 404, { error_msg: 'plugin not found in subsystem http' }],
    ['GET', '/plugins/__proto__', 404, { error_msg: 'plugin not found in subsystem http' }],
    ['GET', '/plugins/key-auth?schema_type=metadata', 400, { error_msg: 'not found schema' }],
    ['GET', '/plugins/list?subsystem=udp', 400, { error_msg: 'unsupported subsystem: udp' }],
    ['PUT', '/plugins/list', 405, { error_msg: 'not supported `PUT` method for plugins' }],
    ['GET', '/plugins/key-auth/extra', 404, { error_msg: '404 Route Not Found' }],
    ['GET', '/schema/nope', 400, { error_msg: 'not found schema: nope' }],
    ['GET', '/schema/secrets', 400, { error_msg: 'not found schema: secrets' }],
    ['GET', '/schema/secrets/nope', 400, { error_msg: 'not found schema: secrets/nope' }],
    ['GET', '/schema/route/x', 400, { error_msg: 'not found schema: route/x' }],
    ['DELETE', '/schema/route', 405, { error_msg: 'not supported `DELETE` method for schema' }],
    ['GET', '/schema/validate/routes', 405, { error_msg: 'not supported `GET` method for schema validation' }],
    ['POST', '/openapi.json', 405, { error_msg: 'not supported `POST` method for openapi' }],
  ])('%s %s → %d', async (method, path, status, reply) => {
    const r = await h.call(method, `${BASE}${path}`, method === 'GET' || method === 'DELETE' ? undefined : {});
    expect([r.status, r.json]).toEqual([status, reply]);
  });

  it('GET schema/{resource} serves the validator\'s schema, by singular or plural name', async () => {
    for (const [kind, schema] of Object.entries(RESOURCE_SCHEMAS)) {
      const def = ADMIN_RESOURCES.find((d) => d.schema === kind)!;
      expect((await h.call('GET', `${BASE}/schema/${kind}`)).json).toEqual(schema);
      expect((await h.call('GET', `${BASE}/schema/${def.name}`)).json).toEqual(schema);
    }
    for (const [manager, schema] of Object.entries(SECRET_MANAGER_SCHEMAS)) {
      expect((await h.call('GET', `${BASE}/schema/secrets/${manager}`)).json).toEqual(schema);
    }
    expect((await h.call('GET', `${BASE}/schema/plugin_metadata/key-auth`)).json).toMatchObject({ type: 'object', additionalProperties: false });
  });

  describe('POST schema/validate/{resource}', () => {
    it.each(RESOURCE_FIXTURES.map((f) => [f.path, f] as const))('%s: 200 with an empty body for a valid value, 400 with the reason otherwise', async (_p, f) => {
      const [res, scope] = f.path.startsWith('consumers/') ? ['credentials', undefined] : f.path.split('/');
      const target = `${BASE}/schema/validate/${res}${scope ? `/${scope}` : f.identity === 'plugin' ? `/${f.ids[0]}` : ''}`;
      const ok = await h.call('POST', target, f.body(f.ids[0]));
      expect([ok.status, ok.text]).toEqual([200, '']);
      const bad = await h.call('POST', target, f.invalid[0]);
      expect([bad.status, bad.json]).toEqual([400, { error_msg: f.invalid[1].replace(/^invalid configuration: /, '') }]);
    });

    it.each<[string, unknown, number, unknown]>([
      ['/schema/validate/routes', { uri: '/' }, 400, { error_msg: 'at least one of plugins, upstream, upstream_id or service_id is required' }],
      ['/schema/validate/upstreams', { type: 'chash', nodes: {} }, 400, { error_msg: 'missing key' }],
      ['/schema/validate/route', { uri: '/', upstream_id: 'does-not-exist' }, 200, undefined],
      ['/schema/validate/nope', {}, 404, { error_msg: 'Unsupported resource type: nope' }],
      ['/schema/validate/secrets', {}, 400, { error_msg: 'missing secret manager' }],
      ['/schema/validate/plugin_metadata', {}, 400, { error_msg: 'missing plugin name' }],
      ['/schema/validate/routes', '{"a":', 400, { error_msg: 'invalid request body: Unexpected end of JSON input' }],
      ['/schema/validate/routes', undefined, 400, { error_msg: 'missing configurations' }],
    ])('POST %s %j → %d', async (path, body, status, reply) => {
      const before = (await h.store.range('/apisix/')).revision;
      const r = await h.call('POST', `${BASE}${path}`, body);
      expect(r.status).toBe(status);
      if (reply !== undefined) expect(r.json).toEqual(reply);
      // Validation never writes.
      expect((await h.store.range('/apisix/')).revision).toBe(before);
    });

    it('is a write for the role check: a viewer gets 401', async () => {
      const r = await h.call('POST', `${BASE}/schema/validate/routes`, { uri: '/', upstream: { nodes: {} } }, { 'X-API-KEY': VIEWER_KEY });
      expect(r.status).toBe(401);
    });
  });

  describe('GET openapi.json', () => {
    let doc: any;
    beforeAll(async () => {
      const r = await h.call('GET', `${BASE}/openapi.json`);
      expect(r.status).toBe(200);
      doc = r.json;
    });

    it('is an OpenAPI 3.1 document in the JSON Schema 2020-12 dialect', () => {
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(doc.components.securitySchemes.apiKeyHeader).toEqual({ type: 'apiKey', in: 'header', name: 'X-API-KEY' });
    });

    it('publishes exactly the schemas the validator enforces', () => {
      for (const [kind, schema] of Object.entries(RESOURCE_SCHEMAS)) expect(doc.components.schemas[kind]).toEqual(schema);
      for (const [manager, schema] of Object.entries(SECRET_MANAGER_SCHEMAS)) expect(doc.components.schemas[`secret.${manager}`]).toEqual(schema);
      for (const [name, p] of Object.entries(PLUGIN_DEFINITIONS)) expect(doc.components.schemas[`plugin.${name}`]).toEqual(p.schema);
    });

    it('has one operation per verb each resource supports, and none for the verbs it refuses', () => {
      const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
      for (const f of RESOURCE_FIXTURES) {
        const item = f.identity === 'plugin' ? `${BASE}/${f.path}/${f.ids[0]}`
          : f.path.startsWith('consumers/') ? `${BASE}/consumers/{username}/credentials/{id}`
            : `${BASE}/${f.path}/{${f.identity === 'username' ? 'username' : 'id'}}`;
        const ops = doc.paths[item];
        expect([item, ops !== undefined]).toEqual([item, true]);
        const documented = METHODS.filter((m) => ops[m]).sort();
        const expected = [...f.verbs].map((v) => v.toLowerCase()).sort();
        expect([item, documented]).toEqual([item, expected.filter((m) => m !== 'post')]);
        const coll = f.identity === 'plugin' ? undefined
          : f.path.startsWith('consumers/') ? `${BASE}/consumers/{username}/credentials` : `${BASE}/${f.path}`;
        if (coll) expect([coll, Boolean(doc.paths[coll].post)]).toEqual([coll, f.verbs.has('POST')]);
      }
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([`${BASE}/plugins/list`, `${BASE}/schema/validate/{resource}`, `${BASE}/openapi.json`]));
    });

    it('every $ref resolves, and a document schema judges values as the validator does', () => {
      const refs = JSON.stringify(doc).match(/"#\/components\/schemas\/[^"]+"/g) ?? [];
      for (const ref of refs) expect([ref, doc.components.schemas[ref.slice('"#/components/schemas/'.length, -1)] !== undefined]).toEqual([ref, true]);
      const ajv = new Ajv2020({ strict: false });
      const route = ajv.compile(doc.components.schemas.route);
      for (const value of [{ uri: '/', upstream: { nodes: {} } }, { uri: 1 }, { uri: '/', foo: 1 }]) {
        // The schema part of validation (field rules and plugins are checked by code).
        expect(route(value)).toBe(validateResource('route', { upstream: { nodes: {} }, ...value }).ok);
      }
    });
  });
});
