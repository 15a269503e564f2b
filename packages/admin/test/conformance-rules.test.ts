import './helpers/quiet-logs';
import type { Harness } from './helpers/admin-harness';
import { TLS } from './helpers/resource-fixtures';
import { STORE_KINDS, startHarnessOn } from './helpers/stores';

/**
 * SPEC §3 rows that concern some resources only, on both stores: referential checks and
 * guarded deletes, duplicate auth keys, `missing key` for chash, route field combinations,
 * credentials and secret managers, ssl keys never returned, consumer deletes, paging and filters.
 */

const BASE = '/apisix/admin';
const upstream = { nodes: { 'a.example.com:80': 1 } };
const route = (extra: Record<string, unknown> = {}) => ({ uri: '/anything', upstream, ...extra });

type Row = [method: string, path: string, body: unknown, status: number, reply: unknown];

describe.each(STORE_KINDS)('SPEC §3 rules, on the %s store', (storeKind) => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarnessOn(storeKind, 'conformance-rules');
  });
  afterAll(() => h?.close());

  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await h.call(method, `${BASE}${path}`, body);
    expect([method, path, r.status < 300]).toEqual([method, path, true]);
    return r;
  };
  const expectRows = async (rows: Row[]) => {
    for (const [method, path, body, status, reply] of rows) {
      const before = (await h.store.range('/apisix/')).revision;
      const r = await h.call(method, `${BASE}${path}`, body);
      expect([method, path, r.status, r.json]).toEqual([method, path, status, reply]);
      if (status >= 400) expect((await h.store.range('/apisix/')).revision).toBe(before);
    }
  };

  describe('referential checks (§3.3) and guarded deletes (§3.5)', () => {
    it('refuses ids that name nothing, with the exact message', async () => {
      await expectRows([
        ['PUT', '/routes/ref', { uri: '/', upstream_id: 'u-none' }, 400, { error_msg: 'failed to fetch upstream info by upstream id [u-none], response code: 404' }],
        ['PUT', '/routes/ref', { uri: '/', upstream_id: 42 }, 400, { error_msg: 'failed to fetch upstream info by upstream id [42], response code: 404' }],
        ['PUT', '/routes/ref', { uri: '/', service_id: 's-none' }, 400, { error_msg: 'failed to fetch service info by service id [s-none], response code: 404' }],
        ['PUT', '/routes/ref', route({ plugin_config_id: 'pc-none' }), 400, { error_msg: 'failed to fetch plugin config info by plugin config id [pc-none], response code: 404' }],
        ['POST', '/routes', { uri: '/', upstream_id: 'u-none' }, 400, { error_msg: 'failed to fetch upstream info by upstream id [u-none], response code: 404' }],
        ['PUT', '/services/ref', { upstream_id: 'u-none' }, 400, { error_msg: 'failed to fetch upstream info by upstream id [u-none], response code: 404' }],
        ['PUT', '/consumers/ref', { username: 'ref', group_id: 'g-none' }, 400, { error_msg: 'failed to fetch consumer group info by consumer group id [g-none], response code: 404' }],
      ]);
    });

    it('accepts them once the targets exist, and guards the targets until ?force=true', async () => {
      await ok('PUT', '/upstreams/u', upstream);
      await ok('PUT', '/services/s', { upstream_id: 'u' });
      await ok('PUT', '/plugin_configs/pc', { plugins: { 'key-auth': {} } });
      await ok('PUT', '/consumer_groups/g', { plugins: {} });
      await ok('PUT', '/routes/r', { uri: '/', service_id: 's', plugin_config_id: 'pc' });
      await ok('PUT', '/routes/r2', { uri: '/2', upstream_id: 'u' });
      await ok('PUT', '/consumers/member', { username: 'member', group_id: 'g' });
      // PATCH is checked too.
      await expectRows([
        ['PATCH', '/routes/r', { plugin_config_id: 'pc-none' }, 400, { error_msg: 'failed to fetch plugin config info by plugin config id [pc-none], response code: 404' }],
        ['DELETE', '/upstreams/u', undefined, 400, { error_msg: 'can not delete this upstream, route [r2] is still using it now' }],
        ['DELETE', '/services/s', undefined, 400, { error_msg: 'can not delete this service directly, route [r] is still using it now' }],
        ['DELETE', '/plugin_configs/pc', undefined, 400, { error_msg: 'can not delete this plugin config, route [r] is still using it now' }],
        ['DELETE', '/consumer_groups/g', undefined, 400, { error_msg: 'can not delete this consumer group, consumer [member] is still using it now' }],
        ['DELETE', '/upstreams/u?force=false', undefined, 400, { error_msg: 'can not delete this upstream, route [r2] is still using it now' }],
      ]);
      await ok('DELETE', '/routes/r2');
      await expectRows([
        ['DELETE', '/upstreams/u', undefined, 400, { error_msg: 'can not delete this upstream, service [s] is still using it now' }],
      ]);
      for (const path of ['/upstreams/u', '/services/s', '/plugin_configs/pc', '/consumer_groups/g']) {
        const r = await h.call('DELETE', `${BASE}${path}?force=true`);
        expect([r.status, r.json]).toEqual([200, { deleted: '1', key: `/apisix${path}` }]);
      }
      // Forced: the referrers stay, pointing at nothing (APISIX behaves the same).
      expect((await h.call('GET', `${BASE}/routes/r`)).json.value.service_id).toBe('s');
      await ok('DELETE', '/routes/r');
      await ok('DELETE', '/consumers/member');
    });
  });

  describe('credentials, consumers and duplicate keys (§3.3)', () => {
    it('creates credentials under an existing consumer only, with exactly one auth plugin', async () => {
      await expectRows([
        ['PUT', '/consumers/ghost/credentials/c', { plugins: { 'key-auth': { key: 'k' } } }, 404, { error_msg: 'consumer not found' }],
      ]);
      await ok('PUT', '/consumers', { username: 'holder' });
      await expectRows([
        ['PUT', '/consumers/holder/credentials/c', { plugins: {} }, 400, { error_msg: 'invalid configuration: a credential must hold exactly one auth plugin' }],
        ['PUT', '/consumers/holder/credentials/c', { plugins: { 'key-auth': {} } }, 400, { error_msg: 'failed to check the configuration of plugin key-auth err: property "key" is required' }],
      ]);
    });

    it('refuses a plain key-auth key held by another consumer or credential; references are not compared', async () => {
      await ok('PUT', '/consumers', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
      await ok('PUT', '/consumers', { username: 'john' });
      await ok('PUT', '/consumers/john/credentials/john-c1', { plugins: { 'key-auth': { key: 'john-key' } } });
      await expectRows([
        ['PUT', '/consumers', { username: 'jill', plugins: { 'key-auth': { key: 'jack-key' } } }, 400, { error_msg: 'duplicate key of plugin key-auth found with consumer: jack' }],
        ['PUT', '/consumers/john/credentials/john-c2', { plugins: { 'key-auth': { key: 'jack-key' } } }, 400, { error_msg: 'duplicate key of plugin key-auth found with consumer: jack' }],
        ['PUT', '/consumers', { username: 'jill', plugins: { 'key-auth': { key: 'john-key' } } }, 400, { error_msg: 'duplicate key of plugin key-auth found with credential: john-c1 of consumer: john' }],
        ['PUT', '/consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'john-key' } } }, 400, { error_msg: 'duplicate key of plugin key-auth found with credential: john-c1 of consumer: john' }],
      ]);
      await ok('PUT', '/consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
      for (const user of ['ref-a', 'ref-b']) await ok('PUT', '/consumers', { username: user, plugins: { 'key-auth': { key: '$secret://aws/1/shared/key' } } });
    });

    it('refuses a basic-auth username or jwt-auth key held by another consumer', async () => {
      await ok('PUT', '/consumers', { username: 'bob', plugins: { 'basic-auth': { username: 'bob-user', password: 'pw-123456' } } });
      await ok('PUT', '/consumers', { username: 'jay', plugins: { 'jwt-auth': { key: 'jay-key', secret: 'jay-secret-0123456789' } } });
      await expectRows([
        ['PUT', '/consumers', { username: 'bobby', plugins: { 'basic-auth': { username: 'bob-user', password: 'other' } } }, 400, { error_msg: 'duplicate key of plugin basic-auth found with consumer: bob' }],
        ['PUT', '/consumers', { username: 'jayne', plugins: { 'jwt-auth': { key: 'jay-key', secret: 'other-secret-0123456789' } } }, 400, { error_msg: 'duplicate key of plugin jwt-auth found with consumer: jay' }],
      ]);
    });

    it('deletes a consumer with its credentials in one transaction, sparing a consumer sharing the name prefix', async () => {
      await ok('PUT', '/consumers', { username: 'carol' });
      await ok('PUT', '/consumers', { username: 'carolyn' });
      await ok('PUT', '/consumers/carol/credentials/k1', { plugins: { 'key-auth': { key: 'carol-1' } } });
      await ok('PUT', '/consumers/carol/credentials/k2', { plugins: { 'key-auth': { key: 'carol-2' } } });
      await ok('PUT', '/consumers/carolyn/credentials/k1', { plugins: { 'key-auth': { key: 'carolyn-1' } } });
      const before = (await h.store.range('/apisix/')).revision;
      const del = await h.call('DELETE', `${BASE}/consumers/carol`);
      expect([del.status, del.json]).toEqual([200, { deleted: '1', key: '/apisix/consumers/carol' }]);
      // One revision for all three keys: a single transaction.
      expect(Number(del.headers.get('x-config-revision'))).toBe(before + 1);
      expect((await h.store.range('/apisix/consumers/carol/')).items).toEqual([]);
      expect((await h.call('GET', `${BASE}/consumers/carolyn/credentials/k1`)).status).toBe(200);
      // Its keys are free again.
      await ok('PUT', '/consumers', { username: 'dave', plugins: { 'key-auth': { key: 'carol-1' } } });
    });

    it('lists consumers without their credentials', async () => {
      const list = await h.call('GET', `${BASE}/consumers`);
      expect(list.json.list.length).toBeGreaterThan(0);
      expect(list.json.list.every((i: { key: string }) => !i.key.includes('/credentials/'))).toBe(true);
      expect(list.json.total).toBe(list.json.list.length);
    });
  });

  describe('upstream and route rules (§3.3)', () => {
    it.each<Row>([
      ['PUT', '/upstreams/ch', { type: 'chash', nodes: { 'a:1': 1 } }, 400, { error_msg: 'missing key' }],
      ['PUT', '/upstreams/ch', { type: 'chash', hash_on: 'header', nodes: { 'a:1': 1 } }, 400, { error_msg: 'missing key' }],
      ['PUT', '/routes/ch', route({ upstream: { type: 'chash', nodes: {} } }), 400, { error_msg: 'missing key' }],
      ['PUT', '/services/ch', { upstream: { type: 'chash', hash_on: 'cookie', nodes: {} } }, 400, { error_msg: 'missing key' }],
      ['POST', '/upstreams', { type: 'chash', nodes: {} }, 400, { error_msg: 'missing key' }],
      ['PUT', '/routes/combo', route({ uris: ['/a'] }), 400, { error_msg: 'invalid configuration: only one of uri and uris is allowed' }],
      ['PUT', '/routes/combo', { upstream }, 400, { error_msg: 'invalid configuration: property "uri" is required (or "uris")' }],
      ['PUT', '/routes/combo', route({ host: 'a.com', hosts: ['b.com'] }), 400, { error_msg: 'invalid configuration: only one of host and hosts is allowed' }],
      ['PUT', '/routes/combo', { uri: '/' }, 400, { error_msg: 'invalid configuration: at least one of plugins, upstream, upstream_id or service_id is required' }],
      ['PUT', '/routes/combo', route({ methods: ['FETCH'] }), 400, { error_msg: 'invalid configuration: property "methods" validation failed: failed to validate item 1: matches none of the enum values' }],
    ])('%s %s %j → %d', async (...row) => {
      await expectRows([row]);
    });

    it('accepts chash with a key, or hashing on the consumer', async () => {
      await ok('PUT', '/upstreams/ch1', { type: 'chash', key: 'remote_addr', nodes: { 'a:1': 1 } });
      await ok('PUT', '/upstreams/ch2', { type: 'chash', hash_on: 'consumer', nodes: { 'a:1': 1 } });
    });
  });

  describe('secret managers and ssls', () => {
    it.each<Row>([
      ['PUT', '/secrets', { region: 'us-east-1' }, 400, { error_msg: 'missing secret manager' }],
      ['PUT', '/secrets/nope/s1', { region: 'us-east-1' }, 400, { error_msg: 'invalid configuration: unsupported secret manager nope' }],
      ['PUT', '/secrets/aws/s1', { access_key_id: 'a' }, 400, { error_msg: 'invalid configuration: property "secret_access_key" is required when "access_key_id" is set' }],
      // No item can exist under an unknown manager.
      ['PATCH', '/secrets/nope/s1', { region: 'x' }, 404, { message: 'Key not found' }],
      ['POST', '/secrets/aws', { region: 'us-east-1' }, 405, { error_msg: 'not supported `POST` method for secret' }],
      ['PUT', '/ssls/bad', { cert: 'x'.repeat(200), key: TLS.key, snis: ['a.com'] }, 400, { error_msg: expect.stringMatching(/^failed to parse cert: /) }],
      ['PUT', '/ssls/bad', { cert: TLS.cert, key: 'y'.repeat(200), snis: ['a.com'] }, 400, { error_msg: expect.stringMatching(/^failed to parse key: /) }],
      ['PUT', '/ssls/bad', { cert: TLS.cert, key: TLS.otherKey, snis: ['a.com'] }, 400, { error_msg: 'failed to parse key: the key does not match the certificate' }],
      ['PUT', '/ssls/bad', { cert: TLS.cert, key: TLS.key }, 400, { error_msg: 'invalid configuration: object matches none of the required' }],
      ['PUT', '/ssls/bad', { cert: TLS.cert, snis: ['a.com'] }, 400, { error_msg: 'invalid configuration: property "key" is required' }],
      ['PUT', '/ssls/bad', { cert: TLS.cert, key: TLS.key, snis: ['a.com'], certs: [TLS.otherCert] }, 400, { error_msg: 'mismatched number of certs and keys' }],
    ])('%s %s (row %#)', async (...row) => {
      await expectRows([row]);
    });

    it('never returns an ssl key, in any reply', async () => {
      const body = { cert: TLS.cert, key: TLS.key, snis: ['test.example.com'], certs: [TLS.otherCert], keys: [TLS.otherKey] };
      const replies = [
        await h.call('PUT', `${BASE}/ssls/s1`, body),
        await h.call('POST', `${BASE}/ssls`, body),
        await h.call('PATCH', `${BASE}/ssls/s1`, { labels: { a: 'b' } }),
        await h.call('PATCH', `${BASE}/ssls/s1/key`, JSON.stringify(TLS.key)),
        await h.call('GET', `${BASE}/ssls/s1`),
        await h.call('GET', `${BASE}/ssls`),
      ];
      for (const r of replies) {
        expect(r.status).toBeLessThan(300);
        expect(r.text).not.toContain('PRIVATE KEY');
        expect(r.text).toContain('BEGIN CERTIFICATE');
      }
      // ... while the store keeps it (plaintext here: this harness has no keyring).
      expect(JSON.parse((await h.store.get('/apisix/ssls/s1'))!.value).key).toBe(TLS.key);
    });
  });

  describe('paging and filters (§3.4)', () => {
    beforeAll(async () => {
      await h.store.delete('/apisix/routes', { withChildren: true });
      // Created in an order that differs from key order: z24, z23, ... z00.
      for (let i = 24; i >= 0; i--) {
        const n = String(i).padStart(2, '0');
        await ok('PUT', `/routes/z${n}`, {
          uri: i % 2 === 0 ? `/even/${n}` : undefined,
          uris: i % 2 === 1 ? [`/odd/${n}`, `/shared/${n}`] : undefined,
          name: `route-${n}`,
          labels: i % 5 === 0 ? { tier: 'gold' } : { tier_: 'x' },
          upstream,
        });
      }
    });

    const keys = (r: { json: { list: Array<{ key: string }> } }) => r.json.list.map((i) => i.key.replace('/apisix/routes/', ''));
    const created = Array.from({ length: 25 }, (_, i) => `z${String(24 - i).padStart(2, '0')}`);

    it('pages in createdIndex order; total counts everything', async () => {
      const p1 = await h.call('GET', `${BASE}/routes?page=1&page_size=10`);
      expect([p1.status, p1.json.total, keys(p1)]).toEqual([200, 25, created.slice(0, 10)]);
      const p3 = await h.call('GET', `${BASE}/routes?page=3&page_size=10`);
      expect([p3.json.total, keys(p3)]).toEqual([25, created.slice(20)]);
      const p4 = await h.call('GET', `${BASE}/routes?page=4&page_size=10`);
      expect([p4.json.total, keys(p4)]).toEqual([25, []]);
      const p0 = await h.call('GET', `${BASE}/routes?page=0&page_size=10`);
      expect(keys(p0)).toEqual(created.slice(0, 10));
      // Paging needs both parameters.
      expect(keys(await h.call('GET', `${BASE}/routes?page=2`))).toEqual(created);
      expect(keys(await h.call('GET', `${BASE}/routes?page_size=10`))).toEqual(created);
      expect(keys(await h.call('GET', `${BASE}/routes?page=1&page_size=500`))).toEqual(created);
    });

    it.each(['9', '501', '0', '-10'])('answers page_size=%s with 400 and a plain-text body', async (size) => {
      const r = await h.call('GET', `${BASE}/routes?page=1&page_size=${size}`);
      expect([r.status, r.text]).toEqual([400, 'page_size must be between 10 and 500']);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    });

    it('filters by name regex, label key and uri regex (uri and uris); total counts after filtering', async () => {
      const name = await h.call('GET', `${BASE}/routes?name=${encodeURIComponent('route-1[0-4]')}`);
      expect([name.json.total, keys(name)]).toEqual([5, ['z14', 'z13', 'z12', 'z11', 'z10']]);
      const label = await h.call('GET', `${BASE}/routes?label=tier`);
      expect([label.json.total, keys(label)]).toEqual([5, ['z20', 'z15', 'z10', 'z05', 'z00']]);
      const uri = await h.call('GET', `${BASE}/routes?uri=${encodeURIComponent('^/shared/0')}`);
      expect([uri.json.total, keys(uri)]).toEqual([5, ['z09', 'z07', 'z05', 'z03', 'z01']]);
      const even = await h.call('GET', `${BASE}/routes?uri=even`);
      expect(even.json.total).toBe(13);
      const both = await h.call('GET', `${BASE}/routes?uri=even&label=tier&page=1&page_size=10`);
      expect([both.json.total, keys(both)]).toEqual([3, ['z20', 'z10', 'z00']]);
      const paged = await h.call('GET', `${BASE}/routes?uri=even&page=2&page_size=10`);
      expect([paged.json.total, keys(paged)]).toEqual([13, ['z04', 'z02', 'z00']]);
      expect((await h.call('GET', `${BASE}/routes?name=nothing-like-this`)).json).toEqual({ list: [], total: 0 });
    });

    it('answers an invalid or runaway regex with 400 naming the parameter, promptly', async () => {
      const bad = await h.call('GET', `${BASE}/routes?name=${encodeURIComponent('(')}`);
      expect([bad.status, bad.json.error_msg]).toEqual([400, expect.stringMatching(/^invalid name filter: Invalid regular expression/)]);
      await ok('PUT', '/routes/evil', { uri: `/${'a'.repeat(64)}!`, upstream });
      const started = Date.now();
      // V8 re-runs a linear-time-capable pattern on its linear engine once it backtracks too
      // much (the data plane's regexes rely on that), so this one is answered, not cut off...
      const fallback = await h.call('GET', `${BASE}/routes?uri=${encodeURIComponent('^/(a+)+$')}`);
      expect([fallback.status, fallback.json]).toEqual([200, { list: [], total: 0 }]);
      // ...while one the linear engine cannot run (a lookahead) still backtracks until the limit.
      const slow = await h.call('GET', `${BASE}/routes?uri=${encodeURIComponent('^/(a+)+(?=!)$')}`);
      expect([slow.status, slow.json]).toEqual([400, { error_msg: 'invalid uri filter: the regular expression took longer than 100 ms' }]);
      expect(Date.now() - started).toBeLessThan(5000);
      await ok('DELETE', '/routes/evil');
    });
  });
});
