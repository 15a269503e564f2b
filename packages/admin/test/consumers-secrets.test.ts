import './helpers/quiet-logs';
import { Harness, startHarness } from './helpers/admin-harness';

describe('admin API: consumers, credentials and secrets', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('creates a consumer at the collection URL, replaces it by username, and checks the username', async () => {
    const created = await h.call('PUT', '/apisix/admin/consumers', { username: 'alice' });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      key: '/apisix/consumers/alice',
      value: { username: 'alice', create_time: expect.any(Number), update_time: expect.any(Number) },
    });
    expect(created.json.value).not.toHaveProperty('id');
    const replaced = await h.call('PUT', '/apisix/admin/consumers/alice', { username: 'alice', desc: 'd' });
    expect([replaced.status, replaced.json.value.desc, replaced.json.value.create_time]).toEqual([200, 'd', created.json.value.create_time]);
    const got = await h.call('GET', '/apisix/admin/consumers/alice');
    expect(got.json).toEqual({ key: '/apisix/consumers/alice', value: replaced.json.value, createdIndex: expect.any(Number), modifiedIndex: expect.any(Number) });
  });

  it('creates credentials under an existing consumer only, and lists consumers without them', async () => {
    await h.call('PUT', '/apisix/admin/consumers', { username: 'bob' });
    const cred = { id: 'cred-bob-key-auth', plugins: { 'key-auth': { key: '$secret://aws/1/bob/apisix-secrets/bob-key-auth' } } };
    const created = await h.call('PUT', '/apisix/admin/consumers/bob/credentials', cred);
    expect([created.status, created.json.key]).toEqual([201, '/apisix/consumers/bob/credentials/cred-bob-key-auth']);
    expect(created.json.value).toEqual({ ...cred, create_time: expect.any(Number), update_time: expect.any(Number) });
    expect((await h.call('PUT', '/apisix/admin/consumers/bob/credentials/c2', { plugins: { 'key-auth': { key: 'bob-2' } } })).status).toBe(201);

    const creds = await h.call('GET', '/apisix/admin/consumers/bob/credentials');
    expect(creds.json.total).toBe(2);
    expect(creds.json.list.map((i: { key: string }) => i.key)).toEqual([
      '/apisix/consumers/bob/credentials/cred-bob-key-auth', '/apisix/consumers/bob/credentials/c2']);
    const one = await h.call('GET', '/apisix/admin/consumers/bob/credentials/c2');
    expect(one.json).toMatchObject({ key: '/apisix/consumers/bob/credentials/c2', value: { id: 'c2' } });

    const consumers = await h.call('GET', '/apisix/admin/consumers');
    expect(consumers.json.list.map((i: { key: string }) => i.key)).toEqual(expect.arrayContaining(['/apisix/consumers/bob']));
    expect(consumers.json.list.every((i: { key: string }) => !i.key.includes('/credentials/'))).toBe(true);
    expect(consumers.json.total).toBe(consumers.json.list.length);

    const del = await h.call('DELETE', '/apisix/admin/consumers/bob/credentials/c2');
    expect([del.status, del.json]).toEqual([200, { deleted: '1', key: '/apisix/consumers/bob/credentials/c2' }]);
  });

  it('deletes a consumer together with its credentials', async () => {
    await h.call('PUT', '/apisix/admin/consumers', { username: 'carol' });
    await h.call('PUT', '/apisix/admin/consumers', { username: 'carolyn' }); // shares the name prefix
    await h.call('PUT', '/apisix/admin/consumers/carol/credentials/k1', { plugins: { 'key-auth': { key: 'carol-1' } } });
    await h.call('PUT', '/apisix/admin/consumers/carolyn/credentials/k1', { plugins: { 'key-auth': { key: 'carolyn-1' } } });
    const del = await h.call('DELETE', '/apisix/admin/consumers/carol');
    expect([del.status, del.json]).toEqual([200, { deleted: '1', key: '/apisix/consumers/carol' }]);
    expect((await h.store.range('/apisix/consumers/carol/')).items).toEqual([]);
    expect((await h.call('GET', '/apisix/admin/consumers/carol/credentials/k1')).status).toBe(404);
    expect((await h.call('GET', '/apisix/admin/consumers/carolyn/credentials/k1')).status).toBe(200);
    expect((await h.call('GET', '/apisix/admin/consumers/carol/credentials')).json).toEqual({ list: [], total: 0 });
  });

  it('stores aws secret managers under their manager, with the id APISIX stores (manager/id)', async () => {
    const conf = { endpoint_url: 'http://127.0.0.1:4566', region: 'us-east-1', access_key_id: 'access', secret_access_key: 'secret', session_token: 'token' };
    const created = await h.call('PUT', '/apisix/admin/secrets/aws/1', conf);
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ key: '/apisix/secrets/aws/1', value: { ...conf, id: 'aws/1', create_time: expect.any(Number), update_time: expect.any(Number) } });
    // What an APISIX data plane reads from the same store: `id` names the manager too.
    expect(JSON.parse((await h.store.get('/apisix/secrets/aws/1'))!.value).id).toBe('aws/1');
    // A body echoing APISIX's `<manager>/<id>` form names the same item.
    expect((await h.call('PUT', '/apisix/admin/secrets/aws/1', { id: 'aws/1', region: 'us-east-1' })).status).toBe(200);
    expect((await h.call('PUT', '/apisix/admin/secrets/aws', { id: 'two', region: 'eu-west-1' })).json).toMatchObject({ key: '/apisix/secrets/aws/two', value: { id: 'aws/two' } });
    expect((await h.call('PUT', '/apisix/admin/secrets/aws', { id: 'aws/three', region: 'eu-west-1' })).json).toMatchObject({ key: '/apisix/secrets/aws/three', value: { id: 'aws/three' } });
    expect((await h.call('DELETE', '/apisix/admin/secrets/aws/three')).status).toBe(200);
    const all = await h.call('GET', '/apisix/admin/secrets');
    expect(all.json.list.map((i: { key: string }) => i.key)).toEqual(['/apisix/secrets/aws/1', '/apisix/secrets/aws/two']);
    expect((await h.call('GET', '/apisix/admin/secrets/aws')).json.total).toBe(2);
    expect((await h.call('GET', '/apisix/admin/secrets/vault')).json).toEqual({ list: [], total: 0 });
    const got = await h.call('GET', '/apisix/admin/secrets/aws/1');
    expect(got.json).toMatchObject({ key: '/apisix/secrets/aws/1', value: { id: 'aws/1', region: 'us-east-1' } });
    expect((await h.call('DELETE', '/apisix/admin/secrets/aws/two')).json).toEqual({ deleted: '1', key: '/apisix/secrets/aws/two' });
  });

  it('reads a secret manager stored with a plain id, and writes it back as manager/id', async () => {
    await h.store.put('/apisix/secrets/aws/old', JSON.stringify({ id: 'old', region: 'us-east-1', create_time: 1, update_time: 1 }));
    expect((await h.call('GET', '/apisix/admin/secrets/aws/old')).json.value).toEqual({ id: 'aws/old', region: 'us-east-1', create_time: 1, update_time: 1 });
    const listed = (await h.call('GET', '/apisix/admin/secrets/aws')).json.list as Array<{ key: string; value: { id: string } }>;
    expect(listed.find((i) => i.key === '/apisix/secrets/aws/old')?.value.id).toBe('aws/old');
    const patched = await h.call('PATCH', '/apisix/admin/secrets/aws/old', { region: 'eu-west-1' });
    expect([patched.status, patched.json.value.id]).toEqual([200, 'aws/old']);
    expect(JSON.parse((await h.store.get('/apisix/secrets/aws/old'))!.value)).toMatchObject({ id: 'aws/old', region: 'eu-west-1', create_time: 1 });
    // A body in either form names the item; another manager's id does not.
    expect((await h.call('PUT', '/apisix/admin/secrets/aws/old', { id: 'old', region: 'us-east-1' })).json.value.id).toBe('aws/old');
    expect((await h.call('PUT', '/apisix/admin/secrets/aws/old', { id: 'vault/old', region: 'us-east-1' })).json).toEqual({ error_msg: 'wrong secret id' });
    expect((await h.call('PUT', '/apisix/admin/secrets/aws', { id: 'vault/x', region: 'us-east-1' })).json).toEqual({
      error_msg: 'invalid configuration: property "id" validation failed: object matches none of the required' });
  });

  it('refuses duplicate plain key-auth keys across consumers and credentials, but not secret references', async () => {
    await h.call('PUT', '/apisix/admin/consumers', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
    await h.call('PUT', '/apisix/admin/consumers', { username: 'john' });
    await h.call('PUT', '/apisix/admin/consumers/john/credentials/john-c1', { plugins: { 'key-auth': { key: 'john-key' } } });

    const cases: Array<[string, unknown, string]> = [
      ['/consumers', { username: 'jill', plugins: { 'key-auth': { key: 'jack-key' } } }, 'duplicate key of plugin key-auth found with consumer: jack'],
      ['/consumers/john/credentials/john-c2', { plugins: { 'key-auth': { key: 'jack-key' } } }, 'duplicate key of plugin key-auth found with consumer: jack'],
      ['/consumers', { username: 'jill', plugins: { 'key-auth': { key: 'john-key' } } }, 'duplicate key of plugin key-auth found with credential: john-c1 of consumer: john'],
      ['/consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'john-key' } } }, 'duplicate key of plugin key-auth found with credential: john-c1 of consumer: john'],
    ];
    for (const [path, body, msg] of cases) {
      const r = await h.call('PUT', `/apisix/admin${path}`, body);
      expect([path, r.status, r.json]).toEqual([path, 400, { error_msg: msg }]);
    }
    // Rewriting an item with its own key is not a duplicate.
    expect((await h.call('PUT', '/apisix/admin/consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } })).status).toBe(200);
    expect((await h.call('PUT', '/apisix/admin/consumers/john/credentials/john-c1', { plugins: { 'key-auth': { key: 'john-key' } } })).status).toBe(200);
    // Equal references are resolved per node; they are not compared.
    const ref = { 'key-auth': { key: '$secret://aws/1/shared/key' } };
    expect((await h.call('PUT', '/apisix/admin/consumers', { username: 'r1', plugins: ref })).status).toBe(201);
    expect((await h.call('PUT', '/apisix/admin/consumers', { username: 'r2', plugins: ref })).status).toBe(201);
    expect((await h.call('PUT', '/apisix/admin/consumers', { username: 'r3', plugins: { 'key-auth': { key: '$env://SHARED' } } })).status).toBe(201);
    expect((await h.call('PUT', '/apisix/admin/consumers', { username: 'r4', plugins: { 'key-auth': { key: '$env://SHARED' } } })).status).toBe(201);
  });

  // [method, path, body, status, reply]
  it.each<[string, string, unknown, number, unknown]>([
    ['PUT', '/consumers/zed', { username: 'other' }, 400, { error_msg: 'wrong username' }],
    ['PUT', '/consumers', {}, 400, { error_msg: 'invalid configuration: property "username" is required' }],
    ['PUT', '/consumers', { username: 'a b' }, 400,
      { error_msg: 'invalid configuration: property "username" validation failed: failed to match pattern "^[a-zA-Z0-9_\\-]+$" with "a b"' }],
    ['PUT', '/consumers', { username: 'zed', create_time: 5 }, 400, { error_msg: 'the property is forbidden:  create_time' }],
    ['PUT', '/consumers', undefined, 400, { error_msg: 'missing configurations' }],
    ['POST', '/consumers', { username: 'zed' }, 405, { error_msg: 'not supported `POST` method for consumer' }],
    ['PATCH', '/consumers/zed', { desc: 'x' }, 405, { error_msg: 'not supported `PATCH` method for consumer' }],
    ['PUT', '/consumers', { username: 'zed', group_id: 'g1' }, 400,
      { error_msg: 'failed to fetch consumer group info by consumer group id [g1], response code: 404' }],
    ['PUT', '/consumers/nobody/credentials/c1', { plugins: { 'key-auth': { key: 'k' } } }, 404, { error_msg: 'consumer not found' }],
    ['PUT', '/consumers/no%2Fbody/credentials/c1', { plugins: { 'key-auth': { key: 'k' } } }, 404, { error_msg: 'consumer not found' }],
    ['PUT', '/consumers/alice/credentials', { plugins: { 'key-auth': { key: 'k' } } }, 400, { error_msg: 'missing credential id' }],
    ['PUT', '/consumers/alice/credentials/c1', { id: 'c2', plugins: { 'key-auth': { key: 'k' } } }, 400, { error_msg: 'wrong credential id' }],
    ['PUT', '/consumers/alice/credentials/c1', { plugins: {} }, 400, { error_msg: 'invalid configuration: a credential must hold exactly one auth plugin' }],
    ['PUT', '/consumers/alice/credentials/c1', { plugins: { 'key-auth': {} } }, 400,
      { error_msg: 'failed to check the configuration of plugin key-auth err: property "key" is required' }],
    ['PUT', '/consumers/alice/credentials/c1', { plugins: { 'key-auth': { key: 'k' } }, update_time: 1 }, 400,
      { error_msg: 'the property is forbidden:  update_time' }],
    ['POST', '/consumers/alice/credentials', { plugins: { 'key-auth': { key: 'k' } } }, 405, { error_msg: 'not supported `POST` method for credential' }],
    ['PATCH', '/consumers/alice/credentials/c1', {}, 405, { error_msg: 'not supported `PATCH` method for credential' }],
    ['GET', '/consumers/alice/other', undefined, 404, { message: 'Key not found' }],
    ['GET', '/consumers/alice/credentials/c1/x', undefined, 404, { message: 'Key not found' }],
    ['DELETE', '/consumers', undefined, 400, { error_msg: 'missing consumer id' }],
    ['DELETE', '/consumers/alice/credentials', undefined, 400, { error_msg: 'missing credential id' }],
    ['DELETE', '/consumers/nobody', undefined, 404, { message: 'Key not found' }],
    ['PUT', '/secrets/aws/s1', { id: 's2' }, 400, { error_msg: 'wrong secret id' }],
    ['PUT', '/secrets/aws', { region: 'us-east-1' }, 400, { error_msg: 'missing secret id' }],
    ['PUT', '/secrets', { region: 'us-east-1' }, 400, { error_msg: 'missing secret manager' }],
    ['PUT', '/secrets/nope/s1', { region: 'us-east-1' }, 400, { error_msg: 'invalid configuration: unsupported secret manager nope' }],
    ['PUT', '/secrets/aws/s1', { access_key_id: 'a' }, 400,
      { error_msg: 'invalid configuration: property "secret_access_key" is required when "access_key_id" is set' }],
    ['PUT', '/secrets/aws/s1', { region: 'us-east-1', token: 'x' }, 400, { error_msg: 'invalid configuration: additional properties forbidden, found token' }],
    ['PUT', '/secrets/aws/s1', { create_time: 1 }, 400, { error_msg: 'the property is forbidden:  create_time' }],
    ['POST', '/secrets/aws', { region: 'us-east-1' }, 405, { error_msg: 'not supported `POST` method for secret' }],
    ['GET', '/secrets/aws/missing', undefined, 404, { message: 'Key not found' }],
    ['GET', '/secrets/aws/s1/field', undefined, 404, { message: 'Key not found' }],
    ['DELETE', '/secrets/aws', undefined, 400, { error_msg: 'missing secret id' }],
    ['DELETE', '/secrets', undefined, 400, { error_msg: 'missing secret manager' }],
    // APISIX: a PATCH names the manager and the id together (t/admin/secrets.t).
    ['PATCH', '/secrets/aws', { region: 'us-east-1' }, 400, { error_msg: 'no secret id' }],
    ['PATCH', '/secrets', { region: 'us-east-1' }, 400, { error_msg: 'no secret id' }],
  ])('%s %s %j → %d', async (method, path, body, status, reply) => {
    const r = await h.call(method, `/apisix/admin${path}`, body);
    expect([r.status, r.json]).toEqual([status, reply]);
  });

  it.each(['nope', 'service', 'stream_routes', 'credentials', '__proto__', 'constructor', ''])('answers 404 for the unsupported resource "%s"', async (res) => {
    for (const method of ['GET', 'PUT', 'POST', 'DELETE', 'PATCH']) {
      const r = await h.call(method, `/apisix/admin/${res}`, method === 'GET' || method === 'DELETE' ? undefined : { a: 1 });
      expect([r.status, r.json]).toEqual([404, { error_msg: `Unsupported resource type: ${res}` }]);
    }
  });

  it('answers 404 outside /apisix/admin', async () => {
    const r = await h.call('GET', '/apisix/adminx');
    expect([r.status, r.json]).toEqual([404, { error_msg: '404 Route Not Found' }]);
  });
});
