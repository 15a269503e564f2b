import crypto, { type KeyObject } from 'node:crypto';
import { startGcpSecretEmulator, type GcpSecretEmulator } from '../src/gcp-secret-emulator';

const EMAIL = 'emu-sa@portico-test.iam.gserviceaccount.com';
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

function jwt(claims: Record<string, unknown>, key: KeyObject = privateKey, alg = 'RS256'): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg, typ: 'JWT' })}.${enc(claims)}`;
  return `${input}.${crypto.sign('RSA-SHA256', Buffer.from(input), key).toString('base64url')}`;
}

describe('GCP Secret Manager emulator (raw HTTP)', () => {
  let emu: GcpSecretEmulator;
  beforeEach(async () => {
    emu = await startGcpSecretEmulator({ serviceAccounts: [{ client_email: EMAIL, public_key: publicKey }] });
  });
  afterEach(() => emu.close());

  const claims = (over: Record<string, unknown> = {}) => {
    const iat = Math.floor(Date.now() / 1000);
    return { iss: EMAIL, scope: SCOPE, aud: emu.tokenUri, iat, exp: iat + 3600, ...over };
  };
  const token = (assertion: string, grant = GRANT) => fetch(emu.tokenUri, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: grant, assertion }).toString(),
  });
  const access = (name: string, bearer?: string, version = 'latest') =>
    fetch(`${emu.endpoint}/v1/projects/portico-test/secrets/${name}/versions/${version}:access`, {
      headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
    });

  it('issues a token for a correctly signed assertion and rejects bad signatures and claims', async () => {
    const ok = await token(jwt(claims()));
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { access_token: string; expires_in: number; token_type: string };
    expect(body).toMatchObject({ expires_in: 3600, token_type: 'Bearer' });
    expect(body.access_token).toMatch(/^ya29\./);

    const rejected: Array<[string, string]> = [
      [jwt(claims(), otherKey), 'Invalid JWT Signature.'],
      [jwt(claims({ aud: 'https://oauth2.googleapis.com/token' })), 'Invalid JWT: Failed audience check.'],
      [jwt(claims({ iss: 'stranger@x.iam.gserviceaccount.com' })), 'Invalid JWT: unknown issuer.'],
      [jwt(claims({ scope: 'https://www.googleapis.com/auth/devstorage.read_only' })), 'Invalid JWT: scope does not grant Secret Manager access.'],
      [jwt(claims({ iat: 1_600_000_000, exp: 1_600_003_600 })), 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.'],
      [jwt(claims(), privateKey, 'none'), 'Invalid JWT: unsupported algorithm.'],
    ];
    for (const [assertion, why] of rejected) {
      const res = await token(assertion);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'invalid_grant', error_description: why });
    }
    const grant = await token(jwt(claims()), 'client_credentials');
    expect(grant.status).toBe(400);
    expect(((await grant.json()) as { error: string }).error).toBe('unsupported_grant_type');
    expect(emu.calls).toMatchObject({ total: 8, token: 8, access: 0 });
  });

  it('serves the latest enabled version as base64, specific versions, and Google error shapes', async () => {
    const t = ((await (await token(jwt(claims()))).json()) as { access_token: string }).access_token;
    expect(emu.putSecret('k', 'emu-secret-v1')).toBe(1);
    expect(emu.putSecret('k', { field: 'emu-secret-v2' })).toBe(2);
    const latest = (await (await access('k', t)).json()) as { name: string; payload: { data: string; dataCrc32c: string } };
    expect(latest.name).toBe('projects/portico-test/secrets/k/versions/2');
    expect(JSON.parse(Buffer.from(latest.payload.data, 'base64').toString())).toEqual({ field: 'emu-secret-v2' });
    expect(latest.payload.dataCrc32c).toMatch(/^\d+$/);
    const v1 = (await (await access('k', t, '1')).json()) as { payload: { data: string } };
    expect(Buffer.from(v1.payload.data, 'base64').toString()).toBe('emu-secret-v1');
    emu.disableVersion('k', 2);
    const afterDisable = (await (await access('k', t)).json()) as { name: string };
    expect(afterDisable.name).toBe('projects/portico-test/secrets/k/versions/1');

    const missing = await access('nope', t);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 404, message: 'Secret [projects/portico-test/secrets/nope] not found or has no versions.', status: 'NOT_FOUND' } });
    for (const bearer of [undefined, 'ya29.not-issued']) {
      const res = await access('k', bearer);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { status: string } }).error.status).toBe('UNAUTHENTICATED');
    }
    const other = await fetch(`${emu.endpoint}/v1/projects/other-project/secrets/k/versions/latest:access`, { headers: { authorization: `Bearer ${t}` } });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: { status: string } }).error.status).toBe('PERMISSION_DENIED');
    emu.revokeTokens();
    expect((await access('k', t)).status).toBe(401);
    expect(emu.callsFor('k')).toBe(7);
  });

  it('injects 500s, 503s and outages, and counts those calls too', async () => {
    emu.putSecret('k', 'emu-secret-fault');
    emu.injectError('500');
    const res = await access('k');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } });
    emu.injectError('503');
    expect((await token(jwt(claims()))).status).toBe(503);
    emu.injectError('outage');
    await expect(access('k')).rejects.toThrow();
    emu.injectError(null);
    expect((await token(jwt(claims()))).status).toBe(200);
    expect(emu.calls).toMatchObject({ total: 4, token: 2, access: 2 });
    emu.resetCalls();
    expect(emu.calls.total).toBe(0);
  });
});
