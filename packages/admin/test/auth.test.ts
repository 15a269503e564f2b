import './helpers/quiet-logs';
import { ADMIN_KEY, Harness, VIEWER_KEY, openTestStore, request, startHarness, testConfig } from './helpers/admin-harness';

const route = { uri: '/a', upstream: { nodes: { 'a:1': 1 } } };
const token = (description: string) => ({ error_msg: 'failed to check token', description });

describe('admin authentication (SPEC §1)', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  // [method, path, headers, status, reply (undefined: not checked)]
  it.each<[string, string, Record<string, string>, number, unknown]>([
    ['GET', '/apisix/admin/routes', {}, 401, token('missing apikey')],
    ['GET', '/apisix/admin/routes', { 'X-API-KEY': '' }, 401, token('missing apikey')],
    ['GET', '/apisix/admin/routes', { 'X-API-KEY': 'nope' }, 401, token('wrong apikey')],
    ['GET', '/apisix/admin/routes', { 'X-API-KEY': ADMIN_KEY.slice(0, -1) }, 401, token('wrong apikey')],
    ['GET', '/apisix/admin/routes', { 'X-API-KEY': `${ADMIN_KEY}x` }, 401, token('wrong apikey')],
    ['GET', '/apisix/admin/routes', { 'X-API-KEY': ADMIN_KEY.toUpperCase() }, 401, token('wrong apikey')],
    ['GET', `/apisix/admin/routes?api_key=nope`, {}, 401, token('wrong apikey')],
    // The header wins over the query.
    ['GET', `/apisix/admin/routes?api_key=${ADMIN_KEY}`, { 'X-API-KEY': 'nope' }, 401, token('wrong apikey')],
    ['GET', `/apisix/admin/routes?api_key=${ADMIN_KEY}`, {}, 200, { list: [], total: 0 }],
    ['GET', `/apisix/admin/routes?api_key=${ADMIN_KEY}&api_key=x`, {}, 200, { list: [], total: 0 }],
    ['GET', '/apisix/admin/routes', { 'X-API-KEY': ADMIN_KEY }, 200, { list: [], total: 0 }],
    ['GET', '/apisix/admin/routes', { 'X-API-KEY': VIEWER_KEY }, 200, { list: [], total: 0 }],
    ['HEAD', '/apisix/admin/routes', { 'X-API-KEY': VIEWER_KEY }, 200, undefined],
    ['PUT', '/apisix/admin/routes/1', { 'X-API-KEY': VIEWER_KEY }, 401, token('invalid method for role viewer')],
    ['POST', '/apisix/admin/routes', { 'X-API-KEY': VIEWER_KEY }, 401, token('invalid method for role viewer')],
    ['DELETE', '/apisix/admin/routes/1', { 'X-API-KEY': VIEWER_KEY }, 401, token('invalid method for role viewer')],
    ['PATCH', '/apisix/admin/routes/1', { 'X-API-KEY': VIEWER_KEY }, 401, token('invalid method for role viewer')],
    ['PUT', `/apisix/admin/routes/1?api_key=${VIEWER_KEY}`, {}, 401, token('invalid method for role viewer')],
    // Auth comes before routing: an unknown resource is not revealed to an unauthenticated client.
    ['GET', '/apisix/admin/nope', {}, 401, token('missing apikey')],
    ['GET', '/elsewhere', {}, 401, token('missing apikey')],
  ])('%s %s %j → %d', async (method, path, headers, status, reply) => {
    const body = ['PUT', 'POST', 'PATCH'].includes(method) ? route : undefined;
    const r = await request(h.base, method, path, body, headers);
    expect(r.status).toBe(status);
    if (reply !== undefined) expect(r.json).toEqual(reply);
    expect(r.headers.get('x-api-version')).toBe('v3');
  });

  it('writes nothing for a rejected viewer', async () => {
    await request(h.base, 'PUT', '/apisix/admin/routes/viewer-try', route, { 'X-API-KEY': VIEWER_KEY });
    expect(await h.store.get('/apisix/routes/viewer-try')).toBeUndefined();
  });

  it('shows a viewer sensitive fields masked; the admin reads them in clear', async () => {
    const admin = { 'X-API-KEY': ADMIN_KEY };
    const viewer = { 'X-API-KEY': VIEWER_KEY };
    const aws = { region: 'us-east-1', access_key_id: 'AKIAVIEWERTEST', secret_access_key: 'viewer-test-secret-access-key', session_token: 'viewer-test-session-token' };
    expect((await request(h.base, 'PUT', '/apisix/admin/secrets/aws/masked', aws, admin)).status).toBe(201);
    expect((await request(h.base, 'PUT', '/apisix/admin/secrets/vault/masked', { uri: 'http://127.0.0.1:1', prefix: 'kv', token: 'viewer-test-vault-token' }, admin)).status).toBe(201);
    const consumer = { username: 'masked', plugins: { 'key-auth': { key: 'viewer-test-consumer-key' }, 'basic-auth': { username: 'm', password: 'viewer-test-password' } } };
    expect((await request(h.base, 'PUT', '/apisix/admin/consumers', consumer, admin)).status).toBe(201);
    const cred = { plugins: { 'jwt-auth': { key: 'masked-jwt', secret: 'viewer-test-jwt-secret' } } };
    expect((await request(h.base, 'PUT', '/apisix/admin/consumers/masked/credentials/c1', cred, admin)).status).toBe(201);
    const ref = { plugins: { 'key-auth': { key: '$secret://aws/masked/consumer/key' } } };
    expect((await request(h.base, 'PUT', '/apisix/admin/consumers/masked/credentials/c2', ref, admin)).status).toBe(201);

    const M = '******';
    const reads: Array<[string, unknown]> = [
      ['/apisix/admin/secrets/aws/masked', { ...aws, secret_access_key: M, session_token: M }],
      ['/apisix/admin/secrets/vault/masked', { token: M }],
      ['/apisix/admin/consumers/masked', { plugins: { 'key-auth': { key: M }, 'basic-auth': { username: 'm', password: M } } }],
      ['/apisix/admin/consumers/masked/credentials/c1', { plugins: { 'jwt-auth': { key: 'masked-jwt', secret: M } } }],
      // A reference names where the value lives, not the value: shown as it is.
      ['/apisix/admin/consumers/masked/credentials/c2', ref],
    ];
    for (const [path, shown] of reads) {
      const r = await request(h.base, 'GET', path, undefined, viewer);
      expect([path, r.status, r.json.value]).toEqual([path, 200, expect.objectContaining(shown)]);
    }
    const lists = await Promise.all(['/apisix/admin/secrets', '/apisix/admin/consumers', '/apisix/admin/consumers/masked/credentials']
      .map((p) => request(h.base, 'GET', p, undefined, viewer)));
    const listed = JSON.stringify(lists.map((r) => r.json));
    for (const secret of ['viewer-test-secret-access-key', 'viewer-test-session-token', 'viewer-test-vault-token', 'viewer-test-consumer-key', 'viewer-test-password', 'viewer-test-jwt-secret']) {
      expect(listed).not.toContain(secret);
    }
    expect(listed).toContain(M);
    // The admin still reads what it wrote.
    expect((await request(h.base, 'GET', '/apisix/admin/secrets/aws/masked', undefined, admin)).json.value.secret_access_key).toBe(aws.secret_access_key);
    expect((await request(h.base, 'GET', '/apisix/admin/consumers/masked', undefined, admin)).json.value.plugins['key-auth'].key).toBe('viewer-test-consumer-key');
  });

  it('uses the non-empty keys of config.yaml when no resolved keys are given', async () => {
    const { store, cleanup } = await openTestStore();
    const cfg = testConfig({ deployment: { admin: { admin_key: [{ name: 'a', key: 'from-config', role: 'admin' }, { name: 'e', key: '', role: 'viewer' }] } } });
    const other = await startHarness({ store, config: cfg, adminKeys: undefined });
    try {
      expect((await request(other.base, 'GET', '/apisix/admin/routes', undefined, { 'X-API-KEY': 'from-config' })).status).toBe(200);
      expect((await request(other.base, 'GET', '/apisix/admin/routes?api_key=', undefined, {})).json).toEqual(token('missing apikey'));
    } finally {
      await other.close();
      await cleanup();
    }
  });
});

describe('allow_admin and keyless access', () => {
  const cases: Array<[string, { allow: string[]; host: string; connect: string; keyRequired: boolean; key?: string }, number]> = [
    ['a client outside allow_admin gets 403', { allow: ['10.0.0.0/8'], host: '127.0.0.1', connect: '127.0.0.1', keyRequired: true, key: ADMIN_KEY }, 403],
    ['an empty allow_admin lets nobody in', { allow: [], host: '127.0.0.1', connect: '127.0.0.1', keyRequired: true, key: ADMIN_KEY }, 403],
    ['a single-host entry matches', { allow: ['127.0.0.1'], host: '127.0.0.1', connect: '127.0.0.1', keyRequired: true, key: ADMIN_KEY }, 200],
    ['an IPv6 client matches ::1/128', { allow: ['::1/128'], host: '::1', connect: '[::1]', keyRequired: true, key: ADMIN_KEY }, 200],
    ['an IPv6 client does not match IPv4 networks', { allow: ['127.0.0.0/8'], host: '::1', connect: '[::1]', keyRequired: true, key: ADMIN_KEY }, 403],
    // A dual-stack listener reports an IPv4 client as ::ffff:127.0.0.1.
    ['an IPv4-mapped client matches 127.0.0.0/8', { allow: ['127.0.0.0/8'], host: '::', connect: '127.0.0.1', keyRequired: true, key: ADMIN_KEY }, 200],
    ['keyless on a loopback listener', { allow: ['127.0.0.0/8'], host: '127.0.0.1', connect: '127.0.0.1', keyRequired: false }, 200],
    ['keyless on an IPv6 loopback listener', { allow: ['::1/128'], host: '::1', connect: '[::1]', keyRequired: false }, 200],
    ['no keyless access on a non-loopback listener', { allow: ['127.0.0.0/8'], host: '0.0.0.0', connect: '127.0.0.1', keyRequired: false }, 401],
    ['keys still work on a non-loopback listener', { allow: ['127.0.0.0/8'], host: '0.0.0.0', connect: '127.0.0.1', keyRequired: false, key: ADMIN_KEY }, 200],
    ['allow_admin applies before keyless access', { allow: ['10.0.0.0/8'], host: '127.0.0.1', connect: '127.0.0.1', keyRequired: false }, 403],
  ];

  it.each(cases)('%s', async (_name, c, status) => {
    const { store, cleanup } = await openTestStore();
    const h = await startHarness({
      store,
      host: c.host,
      config: testConfig({ deployment: { admin: { admin_key_required: c.keyRequired, allow_admin: c.allow } } }),
    });
    try {
      const r = await request(`http://${c.connect}:${h.admin.port}`, 'GET', '/apisix/admin/routes', undefined, c.key ? { 'X-API-KEY': c.key } : {});
      expect(r.status).toBe(status);
      if (status === 403) expect(r.json).toEqual({ error_msg: '403 Forbidden' });
      if (status === 401) expect(r.json).toEqual(token('missing apikey'));
    } finally {
      await h.close();
      await cleanup();
    }
  });

  it('refuses a malformed allow_admin entry at start-up, naming the setting', async () => {
    const { store, cleanup } = await openTestStore();
    try {
      await expect(startHarness({ store, config: testConfig({ deployment: { admin: { allow_admin: ['127.0.0.1/33'] } } }) }))
        .rejects.toThrow('deployment.admin.allow_admin: invalid IP address or CIDR "127.0.0.1/33"');
    } finally {
      await cleanup();
    }
  });
});
