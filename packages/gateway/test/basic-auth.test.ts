import './helpers/quiet-logs';
import { startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { captureLogger } from './helpers/log-capture';
import { startHarness, type Harness, type Reply } from './helpers/harness';
import { StubSecrets } from './helpers/stub-secrets';
import { parseBasic } from '../src/plugins/basic-auth';

const CHALLENGE = 'Basic realm="basic"';
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('basic-auth through the proxy', () => {
  let h: Harness;
  let echo: EchoUpstream;
  let stub: StubSecrets;
  const cap = captureLogger();
  const env: NodeJS.ProcessEnv = { BOB_PASSWORD: 'bob-from-env' };
  const upstream = () => ({ nodes: { [`127.0.0.1:${echo.port}`]: 1 } });

  function expect401(r: Reply, message: string) {
    expect(r.status).toBe(401);
    expect(r.json()).toEqual({ message });
    expect(r.headers['www-authenticate']).toBe(CHALLENGE);
  }

  beforeAll(async () => {
    echo = await startEchoUpstream({ name: 'echo' });
    stub = new StubSecrets();
    h = await startHarness({ resolver: stub.resolver({ env }), logger: cap.logger });
    await h.put('secrets/aws/1', { region: 'eu-west-1' });
    await h.put('consumers/alice', { username: 'alice', plugins: { 'basic-auth': { username: 'alice', password: 'a:lice-pw' } } });
    await h.put('consumers/bob', { username: 'bob', plugins: { 'basic-auth': { username: 'bob', password: '$env://BOB_PASSWORD' } } });
    await h.put('consumers/carol', { username: 'carol' });
    await h.put('consumers/carol/credentials/c1', { plugins: { 'basic-auth': { username: 'carol-cred', password: 'carol-pw' } } });
    await h.put('consumers/ghost', { username: 'ghost', plugins: { 'basic-auth': { username: 'ghost', password: '$secret://aws/1/missing' } } });
    await h.put('routes/ba', { uri: '/ba/*', plugins: { 'basic-auth': {} }, upstream: upstream() });
    await h.put('routes/ba-hide', { uri: '/hide', plugins: { 'basic-auth': { hide_credentials: true } }, upstream: upstream() });
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
  });

  it('401 without, with a malformed, an unknown-user or a wrong-password Authorization; nothing proxied', async () => {
    const before = echo.requests;
    expect401(await h.request('/ba/x'), 'Missing authorization in request');
    expect401(await h.request('/ba/x', { headers: { authorization: 'Bearer abc' } }), 'Invalid authorization in request');
    expect401(await h.request('/ba/x', { headers: { authorization: 'Basic !!!' } }), 'Invalid authorization in request');
    expect401(await h.request('/ba/x', { headers: { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` } }), 'Invalid authorization in request');
    expect401(await h.request('/ba/x', { headers: { authorization: basic('nobody', 'x') } }), 'Invalid user authorization');
    expect401(await h.request('/ba/x', { headers: { authorization: basic('alice', 'wrong') } }), 'Invalid user authorization');
    expect(echo.requests).toBe(before);
  });

  it('accepts the right password (colons after the first belong to it) and tells the upstream who it was', async () => {
    const r = await h.request('/ba/x', { headers: { authorization: basic('alice', 'a:lice-pw'), 'x-consumer-username': 'spoofed' } });
    expect(r.status).toBe(200);
    const hdrs = r.json().headers;
    expect(hdrs['x-consumer-username']).toBe('alice');
    expect(hdrs['x-credential-identifier']).toBeUndefined();
    expect(hdrs.authorization).toBe(basic('alice', 'a:lice-pw')); // hide_credentials defaults to false
  });

  it('matches credentials by their basic-auth username and reports the credential id', async () => {
    const r = await h.request('/ba/x', { headers: { authorization: basic('carol-cred', 'carol-pw') } });
    expect(r.status).toBe(200);
    expect(r.json().headers['x-consumer-username']).toBe('carol');
    expect(r.json().headers['x-credential-identifier']).toBe('c1');
    expect401(await h.request('/ba/x', { headers: { authorization: basic('carol', 'carol-pw') } }), 'Invalid user authorization');
  });

  it('resolves a password reference; an unresolvable one fails closed and the reference string is never a password', async () => {
    expect((await h.request('/ba/x', { headers: { authorization: basic('bob', 'bob-from-env') } })).status).toBe(200);
    expect401(await h.request('/ba/x', { headers: { authorization: basic('bob', '$env://BOB_PASSWORD') } }), 'Invalid user authorization');
    expect401(await h.request('/ba/x', { headers: { authorization: basic('ghost', '$secret://aws/1/missing') } }), 'Invalid user authorization');
    expect(stub.calls.get('missing')).toBe(1);
  });

  it('a password change applies at once; a deleted consumer stops authenticating', async () => {
    await h.put('consumers/alice', { username: 'alice', plugins: { 'basic-auth': { username: 'alice', password: 'new-pw' } } });
    expect401(await h.request('/ba/x', { headers: { authorization: basic('alice', 'a:lice-pw') } }), 'Invalid user authorization');
    expect((await h.request('/ba/x', { headers: { authorization: basic('alice', 'new-pw') } })).status).toBe(200);
    await h.del('consumers/alice');
    expect401(await h.request('/ba/x', { headers: { authorization: basic('alice', 'new-pw') } }), 'Invalid user authorization');
  });

  it('hide_credentials drops Authorization before proxying', async () => {
    const r = await h.request('/hide', { headers: { authorization: basic('carol-cred', 'carol-pw') } });
    expect(r.status).toBe(200);
    expect(r.json().headers.authorization).toBeUndefined();
    expect(r.json().headers['x-consumer-username']).toBe('carol');
  });

  it('never logs passwords', () => {
    const text = cap.text();
    for (const secret of ['bob-from-env', 'a:lice-pw', 'carol-pw', 'new-pw']) expect(text).not.toContain(secret);
  });

  it('parseBasic takes everything after the first colon as the password', () => {
    expect(parseBasic(basic('u', 'p:q'))).toEqual({ username: 'u', password: 'p:q' });
    expect(parseBasic(`basic   ${Buffer.from('u:').toString('base64')}`)).toEqual({ username: 'u', password: '' });
    expect(parseBasic(`Basic ${Buffer.from(':p').toString('base64')}`)).toBeUndefined();
  });
});
