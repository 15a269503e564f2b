import { validateResource } from '@portico/core';

const upstream = { type: 'roundrobin', nodes: { 'httpbin.org:80': 1 } };

describe('resource validation', () => {
  it.each([
    ['route', { id: 'getting-started-anything', uri: '/anything', plugins: { 'key-auth': {} }, upstream }],
    ['route', { uris: ['/a', '/b*'], methods: ['GET'], hosts: ['*.example.com'], upstream_id: 1 }],
    ['upstream', { nodes: [{ host: '127.0.0.1', port: 80, weight: 1 }] }],
    ['consumer', { username: 'john' }],
    ['consumer', { username: 'jack', plugins: { 'key-auth': { key: '$ENV://JACK_AUTH_KEY' } } }],
    ['credential', { id: 'cred-john-key-auth', plugins: { 'key-auth': { key: '$secret://aws/john/apisix-secrets/john-key-auth' } } }],
  ] as const)('accepts a valid %s', (kind, value) => {
    expect(validateResource(kind, value)).toEqual({ ok: true });
  });

  it('accepts the walkthrough aws secret and one without a key pair', () => {
    expect(validateResource('secret', { region: 'ap-southeast-2', access_key_id: 'AKIA', secret_access_key: 's' }, 'aws')).toEqual({ ok: true });
    expect(validateResource('secret', { region: 'us-east-1' }, 'aws')).toEqual({ ok: true });
  });

  it.each([
    ['route', { id: 'a b', uri: '/', upstream }, 'invalid configuration: property "id" validation failed: object matches none of the required'],
    ['route', { uri: 1, upstream }, 'invalid configuration: property "uri" validation failed: wrong type: expected string, got number'],
    // (APISIX names every number "number", an integer as much as a fraction)
    ['route', { uri: '/', upstream: { ...upstream, retries: 1.5 } }, 'invalid configuration: property "upstream" validation failed: property "retries" validation failed: wrong type: expected integer, got number'],
    ['route', { uri: '/', upstream, foo: 1 }, 'invalid configuration: additional properties forbidden, found foo'],
    ['route', { uri: 'x'.repeat(4097), upstream }, 'invalid configuration: property "uri" validation failed: string too long, expected at most 4096, got 4097'],
    ['route', { uri: '/', uris: ['/'], upstream }, 'invalid configuration: only one of uri and uris is allowed'],
    ['route', { uri: '/' }, 'invalid configuration: at least one of plugins, upstream, upstream_id or service_id is required'],
    ['route', { uri: '/', plugins: { nope: {} } }, 'unknown plugin [nope]'],
    ['route', { uri: '/', plugins: { 'key-auth': { header: 1 } } }, 'failed to check the configuration of plugin key-auth err: property "header" validation failed: wrong type: expected string, got number'],
    ['route', { uri: '/', upstream: { nodes: { a: 'x' } } }, 'invalid configuration: property "upstream" validation failed: property "nodes" validation failed: object matches none of the required'],
    ['consumer', {}, 'invalid configuration: property "username" is required'],
    ['consumer', { username: 'a b' }, 'invalid configuration: property "username" validation failed: failed to match pattern "^[a-zA-Z0-9_\\-]+$" with "a b"'],
    ['consumer', { username: 'j', plugins: { 'key-auth': {} } }, 'failed to check the configuration of plugin key-auth err: property "key" is required'],
    ['credential', { plugins: {} }, 'invalid configuration: a credential must hold exactly one auth plugin'],
    // Array items are numbered from 1 and pattern properties name their pattern, as APISIX's
    // validator words them (t/admin/ssl*.t, t/admin/routes*.t).
    ['route', { uri: '/', methods: ['GET', 'FETCH'], upstream }, 'invalid configuration: property "methods" validation failed: failed to validate item 2: matches none of the enum values'],
    ['ssl', { cert: '$env://CERT', key: '$env://KEY', sni: 'a.example', ssl_protocols: ['SSLv3'] }, 'invalid configuration: property "ssl_protocols" validation failed: failed to validate item 1: matches none of the enum values'],
    ['route', { uri: '/', methods: ['GET', 'POST', 'GET'], upstream }, 'invalid configuration: property "methods" validation failed: expected unique items but items 1 and 3 are equal'],
    ['route', { uri: '/', labels: { env: 1 }, upstream }, 'invalid configuration: property "labels" validation failed: failed to validate env (matching ".*"): wrong type: expected string, got number'],
    ['route', { uri: '/', plugins: { 'proxy-rewrite': { headers: { set: { 'x-a': true } } } } },
      'failed to check the configuration of plugin proxy-rewrite err: property "headers" validation failed: property "set" validation failed: failed to validate additional property x-a: object matches none of the required'],
  ] as const)('rejects an invalid %s: %j', (kind, value, message) => {
    expect(validateResource(kind, value)).toEqual({ ok: false, message });
  });

  it('rejects a half key pair and unknown managers', () => {
    expect(validateResource('secret', { access_key_id: 'a' }, 'aws')).toEqual({
      ok: false, message: 'invalid configuration: property "secret_access_key" is required when "access_key_id" is set' });
    expect(validateResource('secret', {}, 'nope')).toEqual({ ok: false, message: 'invalid configuration: unsupported secret manager nope' });
  });
});

describe('rules beyond the schema', () => {
  it('accepts a service timeout', () => {
    expect(validateResource('service', { timeout: { connect: 1, send: 2, read: 3 }, upstream: { nodes: { 'a:1': 1 } } })).toEqual({ ok: true });
  });

  it('refuses cors with credentials and a wildcard origin', () => {
    expect(validateResource('route', { uri: '/', plugins: { cors: { allow_credential: true } } })).toMatchObject({
      ok: false, message: expect.stringContaining('failed to check the configuration of plugin cors err:') });
    expect(validateResource('route', { uri: '/', plugins: { cors: { allow_credential: true, allow_origins: 'https://a.example',
      allow_methods: 'GET', allow_headers: 'x-a', expose_headers: 'x-b' } } })).toEqual({ ok: true });
  });
});
