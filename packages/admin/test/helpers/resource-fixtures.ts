import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const fixture = (name: string) => readFileSync(join(__dirname, '..', 'fixtures', name), 'utf8');

/** A matching certificate/key pair for test.example.com, and a second pair (for mismatches). */
export const TLS = {
  cert: fixture('rsa.crt'),
  key: fixture('rsa.key'),
  otherCert: fixture('ec.crt'),
  otherKey: fixture('ec.key'),
};

export type Verb = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/**
 * One row of SPEC §3.1's table, as the generic conformance suite drives it: where the
 * collection is, how items are named, a valid body, and a few resource-specific inputs.
 */
export interface ResourceFixture {
  /** Collection path under /apisix/admin/ (also its store key under /apisix/). */
  path: string;
  /** Word in messages (`missing <kind> id`, ``not supported `POST` method for <kind>``). */
  kind: string;
  identity: 'id' | 'username' | 'plugin';
  verbs: ReadonlySet<Verb>;
  /** Ids the suite may create (plugin_metadata: the one plugin there is). */
  ids: [string, string];
  /** A valid body for item `id` (consumers carry their username; others get `id` from the path). */
  body(id: string): Record<string, unknown>;
  /** Fields that make a different valid body when added (for replace-with-PUT). */
  change: Record<string, unknown>;
  /** A body that fails the schema, and the exact `error_msg`. */
  invalid: [unknown, string];
  /** A merge patch and the field it changes (for resources with PATCH). */
  patch?: { body: Record<string, unknown>; subPath: string; subValue: unknown };
  /** Requests to make before the suite (a credential's consumer). */
  setup?: Array<[string, string, unknown]>;
  /** Fields replies never show. */
  hidden?: string[];
  /** The `id` stored and shown for item `id`, when it is not `id` itself (secrets: `aws/<id>`, as APISIX). */
  storedId?(id: string): string;
  /** The `error_msg` of a PATCH that names no item, when it is not `missing <kind> id`. */
  patchWithoutId?: string;
}

const v = (...verbs: Verb[]) => new Set(verbs);
const ALL = v('GET', 'PUT', 'POST', 'PATCH', 'DELETE');
const upstream = { nodes: { 'a.example.com:80': 1 } };

export const RESOURCE_FIXTURES: ResourceFixture[] = [
  {
    path: 'routes', kind: 'route', identity: 'id', verbs: ALL, ids: ['r1', 'r2'],
    body: () => ({ uri: '/anything', upstream }),
    change: { labels: { v: '2' } },
    invalid: [{ uri: 1, upstream }, 'invalid configuration: property "uri" validation failed: wrong type: expected string, got number'],
    patch: { body: { desc: 'patched', labels: { env: 'test' } }, subPath: 'upstream/nodes', subValue: { 'b.example.com:8080': 2 } },
  },
  {
    path: 'services', kind: 'service', identity: 'id', verbs: ALL, ids: ['s1', 's2'],
    body: () => ({ upstream, desc: 'a service' }),
    change: { labels: { v: '2' } },
    invalid: [{ hosts: 'x' }, 'invalid configuration: property "hosts" validation failed: wrong type: expected array, got string'],
    patch: { body: { desc: 'patched', enable_websocket: true }, subPath: 'hosts', subValue: ['api.example.com'] },
  },
  {
    path: 'upstreams', kind: 'upstream', identity: 'id', verbs: ALL, ids: ['u1', 'u2'],
    body: () => ({ ...upstream, type: 'roundrobin' }),
    change: { labels: { v: '2' } },
    invalid: [{ nodes: {}, type: 'random' }, 'invalid configuration: property "type" validation failed: matches none of the enum values'],
    patch: { body: { retries: 2, type: null }, subPath: 'timeout/connect', subValue: 3 },
  },
  {
    path: 'consumers', kind: 'consumer', identity: 'username', verbs: v('GET', 'PUT', 'DELETE'), ids: ['jack', 'jill'],
    body: (id) => ({ username: id, desc: 'a consumer' }),
    change: { labels: { v: '2' } },
    invalid: [{ username: 'x', plugins: [] }, 'invalid configuration: property "plugins" validation failed: wrong type: expected object, got array'],
  },
  {
    path: 'consumers/owner/credentials', kind: 'credential', identity: 'id', verbs: v('GET', 'PUT', 'DELETE'), ids: ['c1', 'c2'],
    setup: [['PUT', '/apisix/admin/consumers', { username: 'owner' }]],
    body: (id) => ({ plugins: { 'key-auth': { key: `key-of-${id}` } } }),
    change: { labels: { v: '2' } },
    invalid: [{ plugins: { 'key-auth': { key: 1 } } }, 'failed to check the configuration of plugin key-auth err: property "key" validation failed: wrong type: expected string, got number'],
  },
  {
    path: 'secrets/aws', kind: 'secret', identity: 'id', storedId: (id) => `aws/${id}`, patchWithoutId: 'no secret id', verbs: v('GET', 'PUT', 'PATCH', 'DELETE'), ids: ['a1', 'a2'],
    body: () => ({ region: 'us-east-1', access_key_id: 'AKIAEXAMPLE', secret_access_key: 'aws-secret' }),
    change: { region: 'eu-west-1' },
    invalid: [{ region: 'x', endpoint_url: 'ftp://x' }, 'invalid configuration: property "endpoint_url" validation failed: failed to match pattern "^https?://" with "ftp://x"'],
    patch: { body: { region: 'eu-west-1', session_token: 'tok' }, subPath: 'endpoint_url', subValue: 'http://127.0.0.1:4566' },
  },
  {
    path: 'secrets/vault', kind: 'secret', identity: 'id', storedId: (id) => `vault/${id}`, patchWithoutId: 'no secret id', verbs: v('GET', 'PUT', 'PATCH', 'DELETE'), ids: ['v1', 'v2'],
    body: () => ({ uri: 'http://127.0.0.1:8200', prefix: 'kv/apisix', token: 'vault-token' }),
    change: { namespace: 'ns' },
    invalid: [{ uri: 'http://x', prefix: 'p' }, 'invalid configuration: property "token" is required'],
    patch: { body: { namespace: 'team' }, subPath: 'prefix', subValue: 'kv/other' },
  },
  {
    path: 'secrets/gcp', kind: 'secret', identity: 'id', storedId: (id) => `gcp/${id}`, patchWithoutId: 'no secret id', verbs: v('GET', 'PUT', 'PATCH', 'DELETE'), ids: ['g1', 'g2'],
    body: () => ({ auth_file: '/etc/portico/gcp.json' }),
    change: { ssl_verify: true },
    invalid: [{}, 'invalid configuration: object matches none of the required'],
    patch: { body: { ssl_verify: false }, subPath: 'auth_file', subValue: '/etc/other.json' },
  },
  {
    path: 'ssls', kind: 'ssl', identity: 'id', verbs: ALL, ids: ['t1', 't2'], hidden: ['key'],
    body: () => ({ cert: TLS.cert, key: TLS.key, snis: ['test.example.com'] }),
    change: { labels: { v: '2' } },
    invalid: [{ cert: TLS.cert, key: TLS.key, snis: ['test.example.com'], type: 'peer' }, 'invalid configuration: property "type" validation failed: matches none of the enum values'],
    patch: { body: { labels: { team: 'edge' } }, subPath: 'snis', subValue: ['test.example.com', 'www.test.example.com'] },
  },
  {
    path: 'global_rules', kind: 'global rule', identity: 'id', verbs: v('GET', 'PUT', 'PATCH', 'DELETE'), ids: ['gr1', 'gr2'],
    body: () => ({ plugins: { 'key-auth': {} } }),
    change: { labels: { v: '2' } },
    invalid: [{ plugins: { nope: {} } }, 'unknown plugin [nope]'],
    patch: { body: { desc: 'everywhere' }, subPath: 'plugins/key-auth', subValue: { header: 'x-key' } },
  },
  {
    path: 'plugin_configs', kind: 'plugin config', identity: 'id', verbs: v('GET', 'PUT', 'PATCH', 'DELETE'), ids: ['pc1', 'pc2'],
    body: () => ({ plugins: { 'key-auth': { header: 'k' } } }),
    change: { labels: { v: '2' } },
    invalid: [{ desc: 'no plugins' }, 'invalid configuration: property "plugins" is required'],
    patch: { body: { name: 'auth', labels: { v: '1' } }, subPath: 'plugins/key-auth/query', subValue: 'k' },
  },
  {
    path: 'consumer_groups', kind: 'consumer group', identity: 'id', verbs: v('GET', 'PUT', 'PATCH', 'DELETE'), ids: ['cg1', 'cg2'],
    body: () => ({ plugins: {}, desc: 'a group' }),
    change: { labels: { v: '2' } },
    invalid: [{ plugins: {}, extra: 1 }, 'invalid configuration: additional properties forbidden, found extra'],
    patch: { body: { desc: null, name: 'gold' }, subPath: 'labels/tier', subValue: 'gold' },
  },
  {
    path: 'plugin_metadata', kind: 'plugin_metadata', identity: 'plugin', verbs: v('GET', 'PUT', 'DELETE'), ids: ['key-auth', 'key-auth'],
    body: () => ({}),
    change: {},
    invalid: [{ log_format: {} }, 'invalid configuration: additional properties forbidden, found log_format'],
  },
];
