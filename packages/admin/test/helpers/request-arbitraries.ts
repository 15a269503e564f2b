import fc from 'fast-check';
import { TLS } from './resource-fixtures';

/**
 * fast-check generators of admin requests, good and bad. Small pools of ids, usernames and
 * keys make requests collide (replace, patch, reference, duplicate and delete each other's
 * items) so the accepted ones add up to a real configuration.
 */

/** Which item a structured request targets; `null` segments are left out of the path. */
export type Shape =
  | { res: 'routes' | 'services' | 'upstreams' | 'ssls' | 'global_rules' | 'plugin_configs' | 'consumer_groups' | 'plugin_metadata' | 'consumers' }
  | { res: 'credentials'; consumerSeg: string }
  | { res: 'secrets'; managerSeg: string };

export interface AdminRequest {
  method: string;
  /** Raw path, sent byte for byte. */
  path: string;
  /** Raw body text; undefined sends none. */
  body?: string;
  /** Set when the path was built from a Shape, so a test oracle can predict the outcome. */
  shape?: Shape;
  idSeg?: string;
  subPath?: string[];
  query?: string;
}

export const IDS = ['1', '2', 'a', 'b-c', 'x.y', '00000000000000000001'];
const ODD_SEGMENTS = [
  '..', '.', '%2e%2e', '..%2F..%2Fconsumers%2Fjack', 'a%2Fb', '%00', '%', '%ZZ', 'a%20b', '%C3%A9%F0%9F%98%80', 'x'.repeat(65),
  '9'.repeat(30), '__proto__', 'constructor', 'hasOwnProperty', '', '%20', '%E0%A4%A', 'key-auth%00',
];
const USERNAMES = ['jack', 'jill', 'owner'];
const KEYS = ['k1', 'k2', 'k3', '$env://SHARED', '$secret://aws/1/x/y'];
const PLUGIN_META = ['key-auth', 'nope'];

/** A path segment percent-encoded the way a client would (so http.request accepts it). */
const encodedText = fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => encodeURIComponent(s));
const idSeg = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...IDS) }, { weight: 2, arbitrary: fc.constantFrom(...ODD_SEGMENTS) }, { weight: 1, arbitrary: encodedText });

// Valid field values. Bodies are built valid, then (sometimes) mutated: that keeps a good
// share of writes accepted, so the oracle has a real configuration to track.
const vStr = fc.constantFrom('a', 'desc', 'é😀 text', 'x'.repeat(256));
const vLabels = fc.constantFrom({ env: 'prod' }, { tier: 'gold', env: 'dev' }, {});
const vUpstream = fc.constantFrom(
  { nodes: { 'a.example.com:80': 1 } },
  { nodes: [{ host: '127.0.0.1', port: 80, weight: 1 }], type: 'roundrobin' },
  { nodes: {}, type: 'chash', key: 'remote_addr' },
  { nodes: { 'b.example.com:81': 2 }, type: 'least_conn', retries: 1 },
);
const vId = fc.constantFrom(...IDS);
const vRoutePlugins = fc.constantFrom({ 'key-auth': {} }, { 'key-auth': { header: 'h', hide_credentials: true } }, {});
const vAuth = fc.constantFrom(...KEYS).map((key) => ({ 'key-auth': { key } }));
const optional = { requiredKeys: [] as never[] };

type Obj = Record<string, unknown>;
/** `{}` most of the time, else the fields of `arb`: optional parts that often make a write fail (ids, references). */
const rarely = (arb: fc.Arbitrary<Obj>) => fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: arb });
const merge = (...parts: fc.Arbitrary<Obj>[]) => fc.tuple(...parts).map((objs) => Object.assign({}, ...objs) as Obj);
const bodyId = rarely(vId.map((id) => ({ id })));
const meta = fc.record({ name: vStr, desc: vStr, labels: vLabels }, optional);

const validBodies: Record<string, fc.Arbitrary<Obj>> = {
  routes: merge(
    fc.oneof(fc.record({ uri: fc.constantFrom('/a', '/b*', '/') }), fc.record({ uris: fc.constantFrom(['/x'], ['/y', '/z']) })),
    fc.oneof(
      { weight: 4, arbitrary: fc.record({ upstream: vUpstream }) },
      { weight: 2, arbitrary: fc.record({ plugins: vRoutePlugins }) },
      { weight: 1, arbitrary: fc.record({ upstream_id: vId }) },
      { weight: 1, arbitrary: fc.record({ service_id: vId }) },
      { weight: 1, arbitrary: fc.record({ plugins: vRoutePlugins, plugin_config_id: vId }) },
    ),
    fc.record({ methods: fc.constantFrom(['GET'], ['GET', 'POST']), hosts: fc.constant(['a.com']), priority: fc.integer({ min: -5, max: 5 }) }, optional),
    meta, bodyId,
  ),
  services: merge(fc.oneof(fc.record({ upstream: vUpstream }), rarely(fc.record({ upstream_id: vId }))), fc.record({ plugins: vRoutePlugins, hosts: fc.constant(['a.com']) }, optional), meta, bodyId),
  upstreams: merge(vUpstream, meta, bodyId),
  consumers: merge(fc.record({ username: fc.constantFrom(...USERNAMES) }), rarely(fc.record({ plugins: vAuth })), rarely(fc.record({ group_id: vId })), fc.record({ desc: vStr, labels: vLabels }, optional)),
  credentials: merge(fc.record({ plugins: vAuth }), meta, bodyId),
  'secrets/aws': merge(fc.record({ region: fc.constantFrom('us-east-1', 'eu-west-1'), access_key_id: fc.constant('AKIA'), secret_access_key: vStr, session_token: vStr, endpoint_url: fc.constant('http://127.0.0.1:4566') }, { requiredKeys: ['region'] }), bodyId),
  'secrets/vault': merge(fc.record({ uri: fc.constant('http://127.0.0.1:8200'), prefix: fc.constant('kv/apisix'), token: fc.constantFrom('root', 's.vault-token'), namespace: fc.constant('ns') }, { requiredKeys: ['uri', 'prefix', 'token'] }), bodyId),
  'secrets/gcp': merge(fc.record({ auth_file: fc.constant('/etc/gcp.json'), ssl_verify: fc.boolean() }, { requiredKeys: ['auth_file'] }), bodyId),
  ssls: merge(fc.record({ cert: fc.constant(TLS.cert), key: fc.constant(TLS.key), snis: fc.constantFrom(['test.example.com'], ['a.test.example.com', 'b.test.example.com']) }), fc.record({ labels: vLabels }, optional), bodyId),
  global_rules: merge(fc.record({ plugins: vRoutePlugins }), meta, bodyId),
  plugin_configs: merge(fc.record({ plugins: vRoutePlugins }), meta, bodyId),
  consumer_groups: merge(fc.record({ plugins: vRoutePlugins }), meta, bodyId),
  plugin_metadata: fc.constant({}),
};

/** Usually nothing; else one defect: a wrong value, an unknown or forbidden field, a missing field. */
type Mutation = (v: Obj) => Obj;
const BAD_VALUES = [1, '', null, [], {}, true, 'x'.repeat(300), -1, 'é😀', { nope: {} }];
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 12, arbitrary: fc.constant((v: Obj) => v) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('uri', 'uris', 'username', 'nodes', 'plugins', 'upstream', 'id', 'labels', 'region', 'key', 'snis', 'type', 'host', 'upstream_id'), fc.constantFrom(...BAD_VALUES)).map(([k, bad]) => (v: Obj) => ({ ...v, [k]: bad })) },
  { weight: 1, arbitrary: fc.constantFrom('create_time', 'update_time', 'unknown_field', '__proto__', 'constructor').map((k) => (v: Obj) => ({ ...v, [k]: 1 })) },
  { weight: 1, arbitrary: fc.nat().map((n) => (v: Obj) => { const c = { ...v }; const keys = Object.keys(c); if (keys.length) delete c[keys[n % keys.length]]; return c; }) },
  { weight: 1, arbitrary: fc.constantFrom<Mutation>(
    (v) => ({ ...v, plugins: { 'key-auth': { key: 'k1' } } }), // route-side plugin config on a consumer-side resource, or a duplicate key
    (v) => ({ ...v, type: 'chash', key: undefined }),
    (v) => ({ ...v, uri: '/a', uris: ['/b'] }),
  ) },
);

const bodies: Record<string, fc.Arbitrary<Obj>> = Object.fromEntries(
  Object.entries(validBodies).map(([res, arb]) => [res, fc.tuple(arb, mutation).map(([v, m]) => m(v))]),
);

const patchBodies: Record<string, fc.Arbitrary<Obj>> = {
  routes: fc.record({ desc: fc.oneof(vStr, fc.constant(null)), labels: vLabels, name: fc.constant(null), uri: fc.constantFrom('/p', '/q*'), upstream: vUpstream, priority: fc.constant(3) }, optional),
  services: fc.record({ desc: fc.oneof(vStr, fc.constant(null)), labels: vLabels, upstream: vUpstream, enable_websocket: fc.boolean() }, optional),
  upstreams: fc.record({ desc: vStr, labels: vLabels, retries: fc.constantFrom(0, 2), type: fc.constantFrom('roundrobin', null) }, optional),
  'secrets/aws': fc.record({ region: fc.constantFrom('eu-west-1', 'us-east-1'), session_token: fc.oneof(vStr, fc.constant(null)) }, optional),
  'secrets/vault': fc.record({ namespace: fc.oneof(vStr, fc.constant(null)), token: vStr }, optional),
  'secrets/gcp': fc.record({ ssl_verify: fc.boolean() }),
  ssls: fc.record({ labels: vLabels, snis: fc.constant(['c.test.example.com']) }, optional),
  global_rules: fc.record({ desc: vStr, plugins: vRoutePlugins }, optional),
  plugin_configs: fc.record({ desc: vStr, plugins: vRoutePlugins, labels: vLabels }, optional),
  consumer_groups: fc.record({ desc: fc.oneof(vStr, fc.constant(null)), name: vStr }, optional),
};
const anyPatch = fc.record({ desc: fc.oneof(vStr, fc.constant(null)), labels: fc.oneof(vLabels, fc.constant(null)), id: fc.constantFrom('1', 'other', null), upstream: fc.constant(null) }, optional);
const patchBody = (res: string) => fc.tuple(patchBodies[res] ?? anyPatch, mutation).map(([v, m]) => m(v));

/** Sub-paths worth patching, with values that fit them, per resource; plus odd ones for all. */
const SUB_PATHS: Record<string, Array<[string[], unknown]>> = {
  routes: [[['desc'], 'sub'], [['labels', 'k'], 'v'], [['upstream', 'nodes'], { 'c.example.com:82': 3 }], [['uri'], '/sub'], [['plugins', 'key-auth'], {}]],
  services: [[['desc'], 'sub'], [['upstream'], { nodes: { 'd.example.com:80': 1 } }], [['labels', 'k'], 'v']],
  upstreams: [[['retries'], 2], [['labels', 'k'], 'v'], [['nodes'], { 'e.example.com:80': 1 }]],
  'secrets/aws': [[['region'], 'ap-south-1'], [['secret_access_key'], 'rotated']],
  'secrets/vault': [[['prefix'], 'kv/other'], [['token'], 'rotated']],
  'secrets/gcp': [[['auth_file'], '/etc/other.json']],
  ssls: [[['snis'], ['s.test.example.com']], [['labels', 'k'], 'v']],
  global_rules: [[['plugins', 'key-auth'], { header: 'x' }], [['desc'], 'sub']],
  plugin_configs: [[['plugins', 'key-auth'], {}], [['labels', 'k'], 'v']],
  consumer_groups: [[['desc'], 'sub'], [['plugins'], {}]],
};
const ODD_SUB_PATHS: Array<[string[], unknown]> = [
  [['__proto__', 'x'], 1], [['name', 'x'], 'y'], [['id'], 'other'], [['create_time'], 5], [['desc'], null], [['desc'], 7], [['labels'], 'flat'],
];
const subPatch = (res: string) => fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...(SUB_PATHS[res] ?? ODD_SUB_PATHS)) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_SUB_PATHS) },
);

/** Bodies that are not what any resource wants: broken JSON, odd types, huge or deep ones. */
const malformedBody: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('', ' ', '{', '{"a":}', 'null', '[]', '0', '"str"', 'true', '1e999', '\ufeff{}', '{"a":1}garbage', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}'),
  fc.json({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => JSON.stringify({ uri: s, desc: s, username: s })),
  fc.constantFrom(1000, 1001).map((n) => `{"uri":"/","upstream":{"nodes":{}},"vars":${'['.repeat(n)}${']'.repeat(n)}}`),
  fc.constantFrom(300, 100_000).map((n) => JSON.stringify({ uri: '/', upstream: { nodes: {} }, desc: 'x'.repeat(n) })),
  fc.constant(JSON.stringify({ desc: 'x'.repeat(1572864) })),
);

const QUERIES = ['', '', '', '?force=true', '?page=1&page_size=10', '?page=2&page_size=5', '?page=1&page_size=%ZZ', '?name=(', '?name=a', '?uri=%5E%2F', '?label=env', '?api_key=x', '?force=%ZZ', '?subsystem=stream'];
const METHODS = ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'];
const ODD_METHODS = ['OPTIONS', 'HEAD', 'PROPFIND', 'PURGE', 'COPY', 'TRACE'];

const MANAGERS = ['aws', 'vault', 'gcp'];
const shape: fc.Arbitrary<Shape> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('routes', 'services', 'upstreams', 'ssls', 'global_rules', 'plugin_configs', 'consumer_groups', 'consumers').map((res) => ({ res }) as Shape) },
  { weight: 2, arbitrary: fc.constant({ res: 'plugin_metadata' } as Shape) },
  { weight: 4, arbitrary: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...USERNAMES) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_SEGMENTS) }).map((consumerSeg) => ({ res: 'credentials', consumerSeg }) as Shape) },
  { weight: 3, arbitrary: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...MANAGERS) }, { weight: 1, arbitrary: fc.constantFrom('nope', '__proto__', '%2e%2e') }).map((managerSeg) => ({ res: 'secrets', managerSeg }) as Shape) },
);

/** The verbs SPEC §3.1 gives each resource (requests mostly use these; the rest must be 405). */
const VERBS: Record<string, string[]> = {
  routes: ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'], services: ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'],
  upstreams: ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'], ssls: ['GET', 'PUT', 'POST', 'PATCH', 'DELETE'],
  consumers: ['GET', 'PUT', 'DELETE'], credentials: ['GET', 'PUT', 'DELETE'], plugin_metadata: ['GET', 'PUT', 'DELETE'],
  secrets: ['GET', 'PUT', 'PATCH', 'DELETE'], global_rules: ['GET', 'PUT', 'PATCH', 'DELETE'],
  plugin_configs: ['GET', 'PUT', 'PATCH', 'DELETE'], consumer_groups: ['GET', 'PUT', 'PATCH', 'DELETE'],
};
/** Writes outnumber reads so that the configuration grows and requests meet existing items. */
const VERB_WEIGHT: Record<string, number> = { GET: 2, PUT: 5, POST: 2, PATCH: 3, DELETE: 1 };
const methodFor = (res: string) => fc.oneof(
  ...VERBS[res].map((m) => ({ weight: VERB_WEIGHT[m] * 4, arbitrary: fc.constant(m) })),
  { weight: 2, arbitrary: fc.constantFrom(...METHODS, ...ODD_METHODS) },
);

export function collectionPath(s: Shape): string {
  if (s.res === 'credentials') return `consumers/${s.consumerSeg}/credentials`;
  if (s.res === 'secrets') return `secrets/${s.managerSeg}`;
  return s.res;
}

/** A request built from a Shape: the oracle can tell what it should do. */
const structured: fc.Arbitrary<AdminRequest> = shape.chain((sh) => fc.record({
  method: methodFor(sh.res),
  idSeg: fc.option(sh.res === 'consumers' ? fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...USERNAMES) }, { weight: 1, arbitrary: idSeg }) : idSeg, { freq: 5, nil: undefined }),
  pluginSeg: fc.option(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...PLUGIN_META) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_SEGMENTS) }), { freq: 5, nil: undefined }),
  useSubPath: fc.boolean(),
  keepPostId: fc.nat(4).map((n) => n === 0),
  nameFromPath: fc.nat(5).map((n) => n > 0),
  query: fc.constantFrom(...QUERIES),
  malformed: fc.nat(9).map((n) => n === 0),
}).chain((r) => {
  const res = sh.res === 'secrets' ? `secrets/${sh.managerSeg}` : sh.res;
  // POST names no item: an id in its path is mostly left out (it is a 400 when kept).
  const id = sh.res === 'plugin_metadata' ? r.pluginSeg : r.method === 'POST' && !r.keepPostId ? undefined : r.idSeg;
  const patching = r.method === 'PATCH';
  const sub = patching && id !== undefined && r.useSubPath;
  const resourceBody = (bodies[res] ?? bodies['secrets/aws']).map((v) =>
    // A consumer PUT to /consumers/<name> mostly carries the same username.
    sh.res === 'consumers' && id !== undefined && r.nameFromPath ? { ...v, username: decodeOr(id) } : v);
  const body: fc.Arbitrary<{ text: string | undefined; subPath?: string[] }> =
    r.malformed ? malformedBody.map((text) => ({ text }))
      : sub ? subPatch(res).map(([path, value]) => ({ text: JSON.stringify(value), subPath: path }))
        : patching ? patchBody(res).map((v) => ({ text: JSON.stringify(v) }))
          : resourceBody.map((v) => ({ text: JSON.stringify(v) }));
  return body.map(({ text, subPath }) => ({
    method: r.method,
    path: `/apisix/admin/${collectionPath(sh)}${id !== undefined ? `/${id}` : ''}${subPath ? `/${subPath.join('/')}` : ''}${r.query}`,
    body: r.method === 'GET' || r.method === 'HEAD' || r.method === 'DELETE' ? undefined : text,
    shape: sh,
    idSeg: id,
    subPath,
    query: r.query,
  }));
}));

function decodeOr(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Paths no client should send: traversal, encodings, other endpoints, raw unicode escapes. */
const rawPath = fc.oneof(
  fc.constantFrom(
    '/apisix/admin', '/apisix/admin/', '/apisix/admin//routes', '/apisix/admin/routes//1', '/apisix/admin/../admin/routes',
    '/apisix/admin/routes/..%2F..%2Fconsumers%2Fjack', '/apisix/admin/%2e%2e/routes', '/apisix/admin/routes%2F1',
    '/apisix/admin/plugins/list', '/apisix/admin/plugins/key-auth', '/apisix/admin/schema/route', '/apisix/admin/openapi.json',
    '/apisix/admin/schema/validate/routes', '/apisix/admin/credentials/1', '/apisix/adminx', '/', '/apisix',
    '/apisix/admin/consumers/jack/credentials/c/x/y', '/apisix/admin/secrets', '/apisix/admin/%ZZ', '/apisix/admin/routes/%',
  ),
  fc.array(encodedText, { minLength: 1, maxLength: 5 }).map((segs) => `/apisix/admin/${segs.join('/')}`),
);

const unstructured: fc.Arbitrary<AdminRequest> = fc.record({
  method: fc.constantFrom(...METHODS, ...ODD_METHODS),
  path: rawPath,
  body: malformedBody,
}).map((r) => ({ ...r, body: r.method === 'GET' || r.method === 'HEAD' ? undefined : r.body }));

export const adminRequest: fc.Arbitrary<AdminRequest> = fc.oneof({ weight: 6, arbitrary: structured }, { weight: 1, arbitrary: unstructured });
