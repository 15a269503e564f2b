import './helpers/quiet-logs';
import type { SecretResolver } from '@portico/secrets';
import type { AwsSecretsEmulator, EchoReply, EchoUpstream } from '@portico/testkit';
import type { Harness } from './helpers/harness';
import { startSecretsHarness, type SecretsHarness } from './helpers/secrets-harness';

/**
 * `$secret://` / `$env://` strings in consumer and consumer_group plugin confs (SPEC §6, §9):
 * they are merged after authentication, and resolve through the same per-node cache as route
 * plugin confs. Real proxy, real echo upstream, the AWS emulator for `$secret://`; the
 * resolver runs on a hand-moved clock so TTLs pass without waiting.
 */

const CREDS = { accessKeyId: 'AKIDCONSUMERSECRETS', secretAccessKey: 'consumer-secrets-test-secret-access-key' };
const TTL = 10;
const NEG_TTL = 5;
const MAX_TTL = TTL * 1.1;


describe('secret references in consumer and consumer_group plugin confs (proxy, env, AWS emulator)', () => {
  let s: SecretsHarness;
  let emu: AwsSecretsEmulator;
  let echo: EchoUpstream;
  let h: Harness;
  let resolver: SecretResolver;
  let env: NodeJS.ProcessEnv;
  const advance = (seconds: number) => s.advance(seconds);
  const secretValue = (v: string) => s.secretValue(v);
  const as = (key: string, path = '/cs/x') => h.request(path, { headers: { apikey: key } });
  /** What the upstream saw in `header`, or the gateway's status when it did not answer 200. */
  const seen = async (key: string, header: string): Promise<string | number | undefined> => {
    const r = await as(key);
    if (r.status !== 200) return r.status;
    const v = r.json<EchoReply>().headers[header];
    return v === undefined ? undefined : String(v);
  };
  const consumer = (username: string, key: string, extra: Record<string, unknown> = {}) => ({
    username,
    ...extra,
    plugins: { 'key-auth': { key }, ...((extra.plugins as object | undefined) ?? {}) },
  });

  beforeAll(async () => {
    s = await startSecretsHarness({ name: 'consumer-plugin-secrets-test', creds: CREDS, ttl: TTL, negTtl: NEG_TTL, random: 0.99999 });
    ({ emu, echo, h, resolver, env } = s);
    await h.put('secrets/aws/main', s.awsConf());
    await h.put('routes/cs', {
      uri: '/cs/*',
      plugins: { 'key-auth': {}, 'proxy-rewrite': { headers: { set: { 'x-from': 'route' } } } },
      upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } },
    });
  });
  afterAll(() => s?.close());

  test('$env:// in a consumer\'s proxy-rewrite: the upstream sees the value; a rotation is picked up after the TTL', async () => {
    env.CONSUMER_TOKEN = secretValue('consumer-token-v1');
    await h.put('consumers/envc', consumer('envc', 'envc-key', {
      plugins: { 'proxy-rewrite': { headers: { set: { 'x-from': 'consumer', 'x-token': '$env://CONSUMER_TOKEN' } } } },
    }));
    const r = await as('envc-key');
    expect(r.status).toBe(200);
    expect(r.json<EchoReply>().headers['x-token']).toBe('consumer-token-v1');
    expect(r.json<EchoReply>().headers['x-from']).toBe('consumer'); // the consumer's conf replaced the route's

    env.CONSUMER_TOKEN = secretValue('consumer-token-v2');
    advance(MAX_TTL + 0.01);
    expect(await seen('envc-key', 'x-token')).toBe('consumer-token-v1'); // stale while the refresh runs
    await resolver.whenSettled('$env://CONSUMER_TOKEN');
    expect(await seen('envc-key', 'x-token')).toBe('consumer-token-v2');
  });

  test('$env:// in a consumer_group\'s plugins applies to its consumers; a consumer\'s own plugin still overrides the group\'s', async () => {
    env.GROUP_TOKEN = secretValue('group-token-value');
    env.VIP_TOKEN = secretValue('vip-token-value');
    await h.put('consumer_groups/g1', {
      plugins: { 'proxy-rewrite': { headers: { set: { 'x-group-token': '$env://GROUP_TOKEN' } } } },
    });
    await h.put('consumers/member', consumer('member', 'member-key', { group_id: 'g1' }));
    await h.put('consumers/vip', consumer('vip', 'vip-key', {
      group_id: 'g1',
      plugins: { 'proxy-rewrite': { headers: { set: { 'x-vip-token': '$env://VIP_TOKEN' } } } },
    }));
    const member = await as('member-key');
    expect(member.status).toBe(200);
    expect(member.json<EchoReply>().headers['x-group-token']).toBe('group-token-value');
    const vip = await as('vip-key');
    expect(vip.status).toBe(200);
    expect(vip.json<EchoReply>().headers['x-vip-token']).toBe('vip-token-value');
    expect(vip.json<EchoReply>().headers['x-group-token']).toBeUndefined();
  });

  test('a reference in an access-phase plugin (limit-count key) resolves too, and its counter is kept across requests', async () => {
    env.LIMIT_KEY = secretValue('limit-key-value');
    await h.put('consumers/limited', consumer('limited', 'limited-key', {
      plugins: { 'limit-count': { count: 2, time_window: 60, key_type: 'constant', key: '$env://LIMIT_KEY' } },
    }));
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await as('limited-key')).status);
    expect(statuses).toEqual([200, 200, 503]);
  });

  test('$secret://aws/... in a consumer conf: concurrent first requests share one provider call', async () => {
    emu.putSecret('consumers/awsc', { token: secretValue('aws-consumer-token-v1') });
    await h.put('consumers/awsc', consumer('awsc', 'awsc-key', {
      plugins: { 'proxy-rewrite': { headers: { set: { 'x-token': '$secret://aws/main/consumers/awsc/token' } } } },
    }));
    emu.resetCalls();
    const first = await Promise.all(Array.from({ length: 10 }, () => seen('awsc-key', 'x-token')));
    expect(first).toEqual(Array(10).fill('aws-consumer-token-v1'));
    expect(emu.callsFor('consumers/awsc')).toBe(1);
    expect(await seen('awsc-key', 'x-token')).toBe('aws-consumer-token-v1');
    expect(emu.callsFor('consumers/awsc')).toBe(1); // fresh: no further call
  });

  test('an unresolvable reference answers 503 naming the plugin and reaches no upstream; other consumers are unaffected', async () => {
    await h.put('consumers/broken', consumer('broken', 'broken-key', {
      plugins: { 'proxy-rewrite': { headers: { set: { 'x-token': '$env://NOT_SET_FOR_CONSUMER' } } } },
    }));
    await h.put('consumer_groups/brokengroup', {
      plugins: { 'proxy-rewrite': { headers: { set: { 'x-token': '$secret://aws/main/no-such-consumer-secret' } } } },
    });
    await h.put('consumers/brokenmember', consumer('brokenmember', 'brokenmember-key', { group_id: 'brokengroup' }));
    const before = echo.requests;
    for (const key of ['broken-key', 'brokenmember-key']) {
      const r = await as(key);
      expect(r.status).toBe(503);
      expect(r.json()).toEqual({ error_msg: 'failed to resolve secret reference in plugin proxy-rewrite' });
    }
    expect(echo.requests).toBe(before);
    expect(await seen('envc-key', 'x-from')).toBe('consumer');

    const warned = s.cap.lines.filter((l) => String(l.msg).includes('failed to resolve secret reference in plugin proxy-rewrite'));
    expect(warned.map((l) => l.refs)).toEqual(expect.arrayContaining([
      ['$env://NOT_SET_FOR_CONSUMER'], ['$secret://aws/main/no-such-consumer-secret'],
    ]));
  });

  test('a consumer reference that starts resolving serves once the remembered failure (neg_ttl) is over', async () => {
    await h.put('consumers/late', consumer('late', 'late-key', {
      plugins: { 'proxy-rewrite': { headers: { set: { 'x-token': '$env://LATE_CONSUMER_TOKEN' } } } },
    }));
    expect(await seen('late-key', 'x-token')).toBe(503);
    env.LATE_CONSUMER_TOKEN = secretValue('late-consumer-token');
    expect(await seen('late-key', 'x-token')).toBe(503); // remembered for neg_ttl
    advance(NEG_TTL + 0.01);
    expect(await seen('late-key', 'x-token')).toBe('late-consumer-token');
  });

  test('no secret value appears in any log line', () => {
    const text = s.cap.text();
    expect(text).toContain('$env://NOT_SET_FOR_CONSUMER');
    for (const v of s.secretValues) expect(text).not.toContain(v);
  });
});
