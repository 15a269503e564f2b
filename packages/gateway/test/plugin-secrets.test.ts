import './helpers/quiet-logs';
import { SecretResolver } from '@portico/secrets';
import type { AwsSecretsEmulator, EchoReply, EchoUpstream } from '@portico/testkit';
import { PluginSecrets } from '../src/config/plugin-secrets';
import type { Harness } from './helpers/harness';
import { startSecretsHarness, type SecretsHarness } from './helpers/secrets-harness';

/**
 * `$secret://` and `$env://` strings in plugin confs (SPEC §9) through the real
 * proxy: proxy-rewrite sets a header from a reference and the echo upstream shows what it
 * received. The resolver runs on a hand-moved clock (TTLs without waiting); background
 * refreshes are awaited with `whenSettled`, never with sleeps.
 */

const CREDS = { accessKeyId: 'AKIDPLUGINSECRETS', secretAccessKey: 'plugin-secrets-test-secret-access-key' };
const TTL = 10;
const NEG_TTL = 5;
/** random() pinned near 1: the longest TTL jitter allows */
const MAX_TTL = TTL * 1.1;


describe('secret references in plugin confs (gateway proxy, AWS emulator, env)', () => {
  let s: SecretsHarness;
  let emu: AwsSecretsEmulator;
  let echo: EchoUpstream;
  let h: Harness;
  let resolver: SecretResolver;
  let env: NodeJS.ProcessEnv;
  const advance = (seconds: number) => s.advance(seconds);
  const secretValue = (v: string) => s.secretValue(v);
  /** A route whose proxy-rewrite sets `x-token` from `ref`. */
  const tokenRoute = (uri: string, ref: string) => ({
    uri,
    plugins: { 'proxy-rewrite': { headers: { set: { 'x-token': ref, 'x-literal': 'plain' } } } },
    upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } },
  });
  /** The x-token the upstream saw, or the gateway's status when it did not answer 200. */
  const seen = async (uri: string): Promise<string | number> => {
    const r = await h.request(uri);
    return r.status === 200 ? String(r.json<EchoReply>().headers['x-token']) : r.status;
  };

  beforeAll(async () => {
    s = await startSecretsHarness({ name: 'plugin-secrets-test', creds: CREDS, ttl: TTL, negTtl: NEG_TTL, random: 0.99999 });
    ({ emu, echo, h, resolver, env } = s);
    await h.put('secrets/aws/main', s.awsConf());
  });
  afterAll(() => s?.close());

  test('$env:// in proxy-rewrite headers.set: the upstream sees the value; a change is picked up after the TTL', async () => {
    env.UPSTREAM_TOKEN = secretValue('env-token-v1');
    await h.put('routes/env', tokenRoute('/env', '$env://UPSTREAM_TOKEN'));
    const r = await h.request('/env');
    expect(r.status).toBe(200);
    expect(r.json<EchoReply>().headers['x-token']).toBe('env-token-v1');
    expect(r.json<EchoReply>().headers['x-literal']).toBe('plain');

    env.UPSTREAM_TOKEN = secretValue('env-token-v2');
    advance(TTL * 0.9); // within the shortest TTL: the cached value is still served
    expect(await seen('/env')).toBe('env-token-v1');
    advance(MAX_TTL); // expired: served stale once while the refresh runs in the background
    expect(await seen('/env')).toBe('env-token-v1');
    await resolver.whenSettled('$env://UPSTREAM_TOKEN');
    expect(await seen('/env')).toBe('env-token-v2');
  });

  test('$secret://aws/...: resolved once for concurrent first requests (single-flight), rotation after the TTL', async () => {
    emu.putSecret('svc/upstream', { token: secretValue('aws-token-v1') });
    await h.put('routes/aws', tokenRoute('/aws', '$secret://aws/main/svc/upstream/token'));
    emu.resetCalls();
    const first = await Promise.all(Array.from({ length: 10 }, () => seen('/aws')));
    expect(first).toEqual(Array(10).fill('aws-token-v1'));
    expect(emu.callsFor('svc/upstream')).toBe(1);

    // steady state: no provider call while fresh
    expect(await seen('/aws')).toBe('aws-token-v1');
    expect(emu.callsFor('svc/upstream')).toBe(1);

    emu.putSecret('svc/upstream', { token: secretValue('aws-token-v2') });
    advance(MAX_TTL + 0.01);
    expect(await seen('/aws')).toBe('aws-token-v1'); // stale-while-revalidate
    await resolver.whenSettled('$secret://aws/main/svc/upstream/token');
    expect(await seen('/aws')).toBe('aws-token-v2');
    expect(emu.callsFor('svc/upstream')).toBe(2);
  });

  test('a provider conf change drops its cached values: the conf is rebuilt at once, without waiting for the TTL', async () => {
    emu.putSecret('reconf', { token: secretValue('reconf-token-v1') });
    await h.put('routes/reconf', tokenRoute('/reconf', '$secret://aws/main/reconf/token'));
    expect(await seen('/reconf')).toBe('reconf-token-v1');
    emu.putSecret('reconf', { token: secretValue('reconf-token-v2') });
    expect(await seen('/reconf')).toBe('reconf-token-v1'); // fresh in the cache: no provider call
    await h.put('secrets/aws/main', {
      access_key_id: CREDS.accessKeyId,
      secret_access_key: CREDS.secretAccessKey,
      endpoint_url: emu.endpoint,
      region: 'us-east-1',
      request_timeout: 2, // changed: the resolver drops this provider's values and reports them
      retries: 0,
    });
    expect(await seen('/reconf')).toBe('reconf-token-v2');
  });

  test('an unresolvable reference answers 503 naming the plugin; the log names the reference only', async () => {
    await h.put('routes/missing-env', tokenRoute('/missing-env', '$env://NOT_SET_ANYWHERE'));
    const r = await h.request('/missing-env');
    expect(r.status).toBe(503);
    expect(r.json()).toEqual({ error_msg: 'failed to resolve secret reference in plugin proxy-rewrite' });

    await h.put('routes/missing-aws', tokenRoute('/missing-aws', '$secret://aws/main/no-such-secret'));
    const before = echo.requests;
    expect(await seen('/missing-aws')).toBe(503);
    expect(echo.requests).toBe(before); // fail closed: nothing reached the upstream

    const warned = s.cap.lines.filter((l) => String(l.msg).includes('failed to resolve secret reference in plugin proxy-rewrite'));
    expect(warned.map((l) => l.refs)).toEqual(expect.arrayContaining([['$env://NOT_SET_ANYWHERE'], ['$secret://aws/main/no-such-secret']]));
  });

  test('a reference that starts resolving serves again once the remembered failure (neg_ttl) is over', async () => {
    await h.put('routes/late', tokenRoute('/late', '$env://LATE_TOKEN'));
    expect(await seen('/late')).toBe(503);
    env.LATE_TOKEN = secretValue('late-token-value');
    expect(await seen('/late')).toBe(503); // the failure is remembered for neg_ttl
    advance(NEG_TTL + 0.01);
    expect(await seen('/late')).toBe('late-token-value');
  });

  test('a secret deleted at the provider stops being served after the TTL (fail closed)', async () => {
    emu.putSecret('doomed', { token: secretValue('doomed-token-v1') });
    await h.put('routes/doomed', tokenRoute('/doomed', '$secret://aws/main/doomed/token'));
    expect(await seen('/doomed')).toBe('doomed-token-v1');
    emu.deleteSecret('doomed');
    advance(MAX_TTL + 0.01);
    await seen('/doomed'); // starts the refresh, which finds the secret gone
    await resolver.whenSettled('$secret://aws/main/doomed/token');
    expect(await seen('/doomed')).toBe(503);
  });

  test('references in global rules are resolved too', async () => {
    env.GLOBAL_TOKEN = secretValue('global-token-value');
    await h.put('routes/plain', { uri: '/plain', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });
    await h.put('global_rules/1', { plugins: { 'proxy-rewrite': { headers: { set: { 'x-global': '$env://GLOBAL_TOKEN' } } } } });
    try {
      const r = await h.request('/plain');
      expect(r.status).toBe(200);
      expect(r.json<EchoReply>().headers['x-global']).toBe('global-token-value');
    } finally {
      await h.del('global_rules/1');
    }
  });

  test('no secret value appears in any log line', () => {
    const text = s.cap.text();
    expect(text).toContain('$env://NOT_SET_ANYWHERE');
    for (const v of s.secretValues) expect(text).not.toContain(v);
  });
});

describe('ResolvedPluginConf fast path', () => {
  test('while every reference is fresh, ensure() is synchronous and reuses the compiled conf', async () => {
    let now = 0;
    const resolver = new SecretResolver({ ttlSeconds: 10, negTtlSeconds: 5, maxEntries: 10, now: () => now, env: { TOKEN: 'v1-value' }, jitter: 0 });
    const secrets = new PluginSecrets(resolver);
    let compiles = 0;
    const h = secrets.holder('p', { a: '$env://TOKEN', b: ['x', '$env://TOKEN'] }, (c) => {
      compiles++;
      return c;
    })!;
    expect(h.refs).toEqual(['$env://TOKEN']);
    expect(await h.ensure()).toBeUndefined();
    expect(h.conf).toEqual({ a: 'v1-value', b: ['x', 'v1-value'] });
    const conf = h.conf;
    now += 5_000;
    expect(h.ensure()).toBeUndefined(); // not a Promise
    expect(h.conf).toBe(conf);
    expect(compiles).toBe(1);
    // an onChange for the reference forces a rebuild; same value: the compiled conf is kept
    h.invalidate();
    const p = h.ensure();
    expect(p).toBeInstanceOf(Promise);
    expect(await p).toBeUndefined();
    expect(h.conf).toBe(conf);
    expect(compiles).toBe(1);
    secrets.close();
  });

  test('a conf without references gets no holder', () => {
    const resolver = new SecretResolver({ ttlSeconds: 10, negTtlSeconds: 5, maxEntries: 10 });
    const secrets = new PluginSecrets(resolver);
    expect(secrets.holder('p', { a: 'plain', n: 1 }, (c) => c)).toBeUndefined();
    secrets.close();
  });
});
