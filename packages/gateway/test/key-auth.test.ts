import './helpers/quiet-logs';
import { startEchoUpstream, waitFor, type EchoUpstream } from '@portico/testkit';
import { captureLogger } from './helpers/log-capture';
import { startHarness, type Harness, type Reply } from './helpers/harness';
import { StubSecrets } from './helpers/stub-secrets';

const CHALLENGE = 'apikey realm="key"';

describe('key-auth', () => {
  let echo: EchoUpstream;
  beforeAll(async () => {
    echo = await startEchoUpstream({ name: 'echo' });
  });
  afterAll(async () => {
    await echo.close();
  });
  const upstream = () => ({ nodes: { [`127.0.0.1:${echo.port}`]: 1 } });

  function expect401(r: Reply, message: string, challenge: string | undefined = CHALLENGE) {
    expect(r.status).toBe(401);
    expect(r.json()).toEqual({ message });
    expect(r.headers['www-authenticate']).toBe(challenge);
  }

  describe('with literal keys', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness();
      await h.put('consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
      await h.put('consumers/jill', { username: 'jill' });
      await h.put('consumers/jill/credentials/c1', { plugins: { 'key-auth': { key: 'jill-cred-key' } } });
      await h.put('consumers/anon', { username: 'anon' });
      await h.put('routes/auth', { uri: '/auth/*', plugins: { 'key-auth': {} }, upstream: upstream() });
    });
    afterAll(() => h.close());

    it('401 without a key, with an unknown key', async () => {
      expect401(await h.request('/auth/x'), 'Missing API key in request');
      expect401(await h.request('/auth/x', { headers: { apikey: 'nope' } }), 'Invalid API key in request');
      expect401(await h.request('/auth/x?apikey=nope'), 'Invalid API key in request');
      expect(echo.requests).toBe(0);
    });

    it('accepts the key from the header (any case) or the query, and tells the upstream who it was', async () => {
      const r = await h.request('/auth/x', { headers: { ApiKey: 'jack-key', 'x-consumer-username': 'spoofed', 'x-credential-identifier': 'spoofed' } });
      expect(r.status).toBe(200);
      const hdrs = r.json().headers;
      expect(hdrs['x-consumer-username']).toBe('jack');
      expect(hdrs['x-credential-identifier']).toBeUndefined();
      expect(hdrs.apikey).toBe('jack-key'); // hide_credentials defaults to false
      const q = await h.request('/auth/x?apikey=jack-key&b=1');
      expect(q.status).toBe(200);
      expect(q.json().url).toBe('/auth/x?apikey=jack-key&b=1');
    });

    it('prefers the header over the query', async () => {
      expect401(await h.request('/auth/x?apikey=jack-key', { headers: { apikey: 'wrong' } }), 'Invalid API key in request');
    });

    it('accepts credential keys and reports the credential id', async () => {
      const r = await h.request('/auth/x', { headers: { apikey: 'jill-cred-key' } });
      expect(r.status).toBe(200);
      expect(r.json().headers).toMatchObject({ 'x-consumer-username': 'jill', 'x-credential-identifier': 'c1' });
    });

    it('a later plugin may still set or remove the consumer headers; an earlier value gives way to the consumer', async () => {
      // proxy-rewrite runs after key-auth (priority 1008 < 2500), as in APISIX
      await h.put('routes/auth-rw', {
        uri: '/auth-rw', upstream: upstream(),
        plugins: { 'key-auth': {}, 'proxy-rewrite': { headers: { set: { 'x-consumer-username': 'renamed' }, remove: ['x-credential-identifier'] } } },
      });
      const rw = (await h.request('/auth-rw', { headers: { apikey: 'jill-cred-key' } })).json().headers;
      expect(rw['x-consumer-username']).toBe('renamed');
      expect(rw['x-credential-identifier']).toBeUndefined();
      // a global rule's proxy-rewrite runs before the route's key-auth in the same phase (put waits until it applies)
      await h.put('global_rules/consumer-hdr', {
        plugins: { 'proxy-rewrite': { headers: { set: { 'x-global': 'ran', 'x-consumer-username': 'early', 'x-credential-identifier': 'early' } } } },
      });
      try {
        const g = (await h.request('/auth/x', { headers: { apikey: 'jill-cred-key' } })).json().headers;
        expect(g['x-global']).toBe('ran');
        expect(g['x-consumer-username']).toBe('jill');
        expect(g['x-credential-identifier']).toBe('c1');
      } finally {
        await h.del('global_rules/consumer-hdr');
      }
    });

    it('a credential works only while its consumer exists; key changes apply at once', async () => {
      await h.del('consumers/jill');
      expect401(await h.request('/auth/x', { headers: { apikey: 'jill-cred-key' } }), 'Invalid API key in request');
      await h.put('consumers/jill', { username: 'jill' });
      expect((await h.request('/auth/x', { headers: { apikey: 'jill-cred-key' } })).status).toBe(200);
      await h.put('consumers/jill/credentials/c1', { plugins: { 'key-auth': { key: 'jill-new' } } });
      expect401(await h.request('/auth/x', { headers: { apikey: 'jill-cred-key' } }), 'Invalid API key in request');
      expect((await h.request('/auth/x', { headers: { apikey: 'jill-new' } })).status).toBe(200);
    });

    it('hide_credentials removes the header or the query argument that carried the key', async () => {
      await h.put('routes/hide', { uri: '/hide', plugins: { 'key-auth': { hide_credentials: true } }, upstream: upstream() });
      const viaHeader = await h.request('/hide?x=1', { headers: { apikey: 'jack-key' } });
      expect(viaHeader.json().headers.apikey).toBeUndefined();
      expect(viaHeader.json().url).toBe('/hide?x=1');
      const viaQuery = await h.request('/hide?a=1&apikey=jack-key&b=%20two');
      expect(viaQuery.status).toBe(200);
      expect(viaQuery.json().url).toBe('/hide?a=1&b=%20two');
    });

    it('custom header, query and realm', async () => {
      await h.put('routes/custom', {
        uri: '/custom',
        plugins: { 'key-auth': { header: 'X-Api-Token', query: 'token', realm: 'portico' } },
        upstream: upstream(),
      });
      expect401(await h.request('/custom', { headers: { apikey: 'jack-key' } }), 'Missing API key in request', 'apikey realm="portico"');
      expect((await h.request('/custom', { headers: { 'x-api-token': 'jack-key' } })).status).toBe(200);
      expect((await h.request('/custom?token=jack-key')).status).toBe(200);
    });

    it('anonymous_consumer lets keyless or wrong-key requests through as that consumer', async () => {
      await h.put('routes/anon', { uri: '/anon', plugins: { 'key-auth': { anonymous_consumer: 'anon' } }, upstream: upstream() });
      const r = await h.request('/anon');
      expect(r.status).toBe(200);
      expect(r.json().headers['x-consumer-username']).toBe('anon');
      expect((await h.request('/anon', { headers: { apikey: 'wrong' } })).json().headers['x-consumer-username']).toBe('anon');
      expect((await h.request('/anon', { headers: { apikey: 'jack-key' } })).json().headers['x-consumer-username']).toBe('jack');
      await h.put('routes/anon', { uri: '/anon', plugins: { 'key-auth': { anonymous_consumer: 'ghost' } }, upstream: upstream() });
      const missing = await h.request('/anon');
      expect(missing.status).toBe(401);
      expect(missing.json()).toEqual({ message: 'Invalid user authorization' });
    });
  });

  describe('with secret references', () => {
    let h: Harness;
    let stub: StubSecrets;
    let clock: number;
    const env: NodeJS.ProcessEnv = { JACK_KEY: 'jack-from-env', KEYS: JSON.stringify({ joe: 'joe-from-json' }) };
    const cap = captureLogger();
    const SECRET_VALUES = ['jack-from-env', 'joe-from-json', 'tom-secret-v1', 'tom-secret-v2', 'ann-secret'];

    beforeAll(async () => {
      stub = new StubSecrets();
      clock = Date.now();
      h = await startHarness({ resolver: stub.resolver({ now: () => clock, env }), logger: cap.logger });
      await h.put('secrets/aws/1', { region: 'eu-west-1' });
      await h.put('routes/auth', { uri: '/auth', plugins: { 'key-auth': {} }, upstream: upstream() });
    });
    afterAll(() => h.close());
    afterEach(() => stub.release());

    const status = async (key: string) => (await h.request('/auth', { headers: { apikey: key } })).status;

    it('resolves $env:// references lazily; the reference string itself is never a key', async () => {
      await h.put('consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: '$env://JACK_KEY' } } });
      await h.put('consumers/joe', { username: 'joe', plugins: { 'key-auth': { key: '$env://KEYS/joe' } } });
      expect(h.gw.resolver.stats().env?.fetches ?? 0).toBe(0); // nothing fetched before a request needs it
      expect(await status('$env://JACK_KEY')).toBe(401);
      expect(h.gw.resolver.stats().env.fetches).toBe(2); // the first miss resolved both cold refs
      expect(await status('jack-from-env')).toBe(200);
      expect(await status('joe-from-json')).toBe(200);
      for (let i = 0; i < 50; i++) expect(await status(`wrong-${i}`)).toBe(401);
      expect(h.gw.resolver.stats().env.fetches).toBe(2);
    });

    it('500 concurrent requests on a cold reference make one provider call; wrong keys afterwards make none', async () => {
      stub.values.set('tom', 'tom-secret-v1');
      await h.put('consumers/tom', { username: 'tom', plugins: { 'key-auth': { key: '$secret://aws/1/tom' } } });
      stub.hold();
      const replies = Array.from({ length: 500 }, (_, i) => status(i % 2 === 0 ? 'tom-secret-v1' : `random-${i}`));
      await waitFor(() => h.gw.activeRequests === 500 && stub.waiting >= 1, { what: '500 requests waiting on the cold secret' });
      expect(stub.calls.get('tom')).toBe(1);
      stub.release();
      const codes = await Promise.all(replies);
      expect(codes.filter((c) => c === 200)).toHaveLength(250);
      expect(codes.filter((c) => c === 401)).toHaveLength(250);
      expect(stub.calls.get('tom')).toBe(1);

      const flood = await Promise.all(Array.from({ length: 300 }, (_, i) => status(`flood-${i}-${Math.random()}`)));
      expect(flood.every((c) => c === 401)).toBe(true);
      expect(stub.totalCalls).toBe(1);
    });

    it('an unresolvable reference disables that consumer only, and is asked at most once per neg_ttl', async () => {
      await h.put('consumers/ghost', { username: 'ghost', plugins: { 'key-auth': { key: '$secret://aws/1/missing' } } });
      await h.put('consumers/nobody', { username: 'nobody', plugins: { 'key-auth': { key: '$env://NOT_SET' } } });
      for (let i = 0; i < 20; i++) {
        expect(await status('$secret://aws/1/missing')).toBe(401);
        expect(await status('')).toBe(401);
      }
      expect(stub.calls.get('missing')).toBe(1);
      expect(await status('tom-secret-v1')).toBe(200);
      const warn = cap.lines.find((l) => l.ref === '$secret://aws/1/missing' && String(l.msg).includes('could not be resolved'));
      expect(warn).toBeDefined();
      // (once neg_ttl passes they turn cold again and a miss asks once more; the next tests
      // hold the provider, so take them out)
      await h.del('consumers/ghost');
      await h.del('consumers/nobody');
    });

    it('a rotated secret is picked up on TTL: old key serves until the refresh lands, then only the new one works', async () => {
      expect(await status('tom-secret-v1')).toBe(200);
      const before = stub.calls.get('tom')!;
      stub.values.set('tom', 'tom-secret-v2');
      stub.hold();
      clock += 301_000; // past the 300 s TTL
      // stale-while-revalidate: requests keep being answered from the old value while the
      // refresh (held by the stub) runs in the background
      await waitFor(async () => (await status('tom-secret-v1')) === 200 && stub.waiting === 1, { what: 'background refresh started' });
      expect(await status('tom-secret-v1')).toBe(200);
      expect(await status('tom-secret-v2')).toBe(401);
      expect(stub.calls.get('tom')).toBe(before + 1);
      stub.release();
      await waitFor(async () => (await status('tom-secret-v2')) === 200, { what: 'rotated key accepted' });
      expect(await status('tom-secret-v1')).toBe(401);
      expect(stub.calls.get('tom')).toBe(before + 1);
    });

    it('changing the secret manager drops only its cached values and re-resolves through the new conf', async () => {
      const buildsBefore = stub.builds;
      const tomCalls = stub.calls.get('tom')!;
      const envFetches = h.gw.resolver.stats().env.fetches;
      await h.put('secrets/aws/1', { region: 'us-east-2' });
      expect(stub.builds).toBe(buildsBefore + 1);
      expect(await status('tom-secret-v2')).toBe(200);
      expect(stub.calls.get('tom')).toBe(tomCalls + 1);
      expect(await status('jack-from-env')).toBe(200);
      expect(h.gw.resolver.stats().env.fetches).toBe(envFetches);

      await h.del('secrets/aws/1'); // the manager is gone: its consumers fail closed
      expect(await status('tom-secret-v2')).toBe(401);
      expect(await status('jack-from-env')).toBe(200);
    });

    it('never logs secret values', () => {
      const text = cap.text();
      expect(text.length).toBeGreaterThan(0);
      for (const v of SECRET_VALUES) expect(text).not.toContain(v);
    });
  });
});
