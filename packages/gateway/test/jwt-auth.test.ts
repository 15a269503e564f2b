import './helpers/quiet-logs';
import { generateKeyPairSync } from 'node:crypto';
import { startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { startHarness, type Harness, type Reply } from './helpers/harness';
import { StubSecrets } from './helpers/stub-secrets';
import { claimsValid, parseJwt, signJwt, verifySignature } from '../src/plugins/jwt';

const now = () => Math.floor(Date.now() / 1000);

describe('jwt-auth through the proxy', () => {
  let h: Harness;
  let echo: EchoUpstream;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const env: NodeJS.ProcessEnv = { HS_SECRET: 'secret-from-env' };
  const upstream = () => ({ nodes: { [`127.0.0.1:${echo.port}`]: 1 } });
  const hs = (payload: object, secret = 'jack-secret') => signJwt({ exp: now() + 60, ...payload }, 'HS256', secret);
  const get = (path: string, headers: Record<string, string> = {}) => h.request(path, { headers });

  function expect401(r: Reply, message: string) {
    expect(r.status).toBe(401);
    expect(r.json()).toEqual({ message });
  }

  beforeAll(async () => {
    echo = await startEchoUpstream({ name: 'echo' });
    h = await startHarness({ resolver: new StubSecrets().resolver({ env }) });
    await h.put('consumers/jack', { username: 'jack', plugins: { 'jwt-auth': { key: 'jack-key', secret: 'jack-secret' } } });
    await h.put('consumers/b64', { username: 'b64', plugins: { 'jwt-auth': { key: 'b64-key', secret: Buffer.from('raw-bytes').toString('base64'), base64_secret: true } } });
    await h.put('consumers/envy', { username: 'envy', plugins: { 'jwt-auth': { key: 'envy-key', secret: '$env://HS_SECRET' } } });
    await h.put('consumers/rita', { username: 'rita' });
    await h.put('consumers/rita/credentials/r1', { plugins: { 'jwt-auth': { key: 'rita-key', algorithm: 'RS256', public_key: rsa.publicKey } } });
    await h.put('routes/jwt', { uri: '/jwt/*', plugins: { 'jwt-auth': {} }, upstream: upstream() });
    await h.put('routes/jwt-hide', { uri: '/hide/*', plugins: { 'jwt-auth': { hide_credentials: true } }, upstream: upstream() });
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
  });

  it('401 with APISIX 3.x messages for a missing, malformed, keyless, unknown-key or badly signed token', async () => {
    const before = echo.requests;
    expect401(await get('/jwt/x'), 'Missing JWT token in request');
    expect401(await get('/jwt/x', { authorization: 'Bearer not-a-jwt' }), 'JWT token invalid');
    expect401(await get('/jwt/x', { authorization: hs({ sub: 'no key claim' }) }), 'missing user key in JWT token');
    expect401(await get('/jwt/x', { authorization: hs({ key: 'who' }) }), 'Invalid user key in JWT token');
    expect401(await get('/jwt/x', { authorization: hs({ key: 'jack-key' }, 'wrong-secret') }), 'failed to verify jwt');
    expect(echo.requests).toBe(before);
  });

  it('HS256 from header (with or without Bearer), query or cookie', async () => {
    const token = hs({ key: 'jack-key' });
    for (const r of [
      await get('/jwt/x', { authorization: `Bearer ${token}` }),
      await get('/jwt/x', { authorization: token }),
      await get(`/jwt/x?jwt=${token}`),
      await get('/jwt/x', { cookie: `a=1; jwt=${token}` }),
    ]) {
      expect(r.status).toBe(200);
      expect(r.json().headers['x-consumer-username']).toBe('jack');
    }
  });

  it('rejects expired and not-yet-valid tokens, and the alg none / wrong-alg tricks', async () => {
    expect401(await get('/jwt/x', { authorization: hs({ key: 'jack-key', exp: now() - 1 }) }), 'failed to verify jwt');
    expect401(await get('/jwt/x', { authorization: hs({ key: 'jack-key', nbf: now() + 60 }) }), 'failed to verify jwt');
    const enc = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    expect401(await get('/jwt/x', { authorization: `${enc({ alg: 'none' })}.${enc({ key: 'jack-key' })}.` }), 'failed to verify jwt');
    // an HS256 token "signed" with rita's public key must not pass her RS256 check
    expect401(await get('/jwt/x', { authorization: signJwt({ key: 'rita-key' }, 'HS256', rsa.publicKey) }), 'failed to verify jwt');
  });

  it('base64_secret and secret references', async () => {
    expect((await get('/jwt/x', { authorization: signJwt({ key: 'b64-key' }, 'HS256', Buffer.from('raw-bytes')) })).status).toBe(200);
    expect((await get('/jwt/x', { authorization: hs({ key: 'envy-key' }, 'secret-from-env') })).status).toBe(200);
    expect401(await get('/jwt/x', { authorization: hs({ key: 'envy-key' }, '$env://HS_SECRET') }), 'failed to verify jwt');
  });

  it('RS256 on a credential: the public key verifies, another key pair does not', async () => {
    const r = await get('/jwt/x', { authorization: signJwt({ key: 'rita-key', exp: now() + 60 }, 'RS256', rsa.privateKey) });
    expect(r.status).toBe(200);
    expect(r.json().headers['x-consumer-username']).toBe('rita');
    expect(r.json().headers['x-credential-identifier']).toBe('r1');
    expect401(await get('/jwt/x', { authorization: signJwt({ key: 'rita-key' }, 'RS256', otherRsa.privateKey) }), 'failed to verify jwt');
  });

  it('hide_credentials removes the header, query argument or cookie that carried the token', async () => {
    const token = hs({ key: 'jack-key' });
    expect((await get('/hide/x', { authorization: token })).json().headers.authorization).toBeUndefined();
    expect((await get(`/hide/x?jwt=${token}&b=2`)).json().url).toBe('/hide/x?b=2');
    expect((await get('/hide/x', { cookie: `a=1; jwt=${token}` })).json().headers.cookie).toBe('a=1');
  });

  it('a secret change applies at once', async () => {
    await h.put('consumers/jack', { username: 'jack', plugins: { 'jwt-auth': { key: 'jack-key', secret: 'rotated' } } });
    expect401(await get('/jwt/x', { authorization: hs({ key: 'jack-key' }) }), 'failed to verify jwt');
    expect((await get('/jwt/x', { authorization: hs({ key: 'jack-key' }, 'rotated') })).status).toBe(200);
  });
});

describe('jwt helpers', () => {
  it('parse, verify and claim checks', () => {
    const t = signJwt({ key: 'k', exp: 100, nbf: 50 }, 'HS256', 's');
    const p = parseJwt(t)!;
    expect(p.payload).toEqual({ key: 'k', exp: 100, nbf: 50 });
    expect(verifySignature(p, 'HS256', 's')).toBe(true);
    expect(verifySignature(p, 'HS256', 't')).toBe(false);
    expect(verifySignature(p, 'RS256', 's')).toBe(false);
    expect(claimsValid(p.payload, 99, 0)).toBe(true);
    expect(claimsValid(p.payload, 100, 0)).toBe(false);
    expect(claimsValid(p.payload, 100, 5)).toBe(true);
    expect(claimsValid(p.payload, 49, 0)).toBe(false);
    expect(claimsValid({ exp: '100' }, 1, 0)).toBe(false);
    expect(parseJwt('a.b')).toBeUndefined();
    expect(parseJwt(`${Buffer.from('[]').toString('base64url')}.e30.`)).toBeUndefined();
  });
});
