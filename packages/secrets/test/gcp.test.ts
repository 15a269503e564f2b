import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createGcpProvider, resolveGcpConf, SecretResolver } from '@portico/secrets';
import { startGcpSecretEmulator, type GcpSecretEmulator } from '../../testkit/src/gcp-secret-emulator';
import { registerSecretValue } from '../../testkit/src/log-capture';
import { captureLogger, ManualClock } from './helpers';

const EMAIL = 'portico-sa@portico-test.iam.gserviceaccount.com';
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const PRIVATE_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const PUBLIC_PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const OTHER_PEM = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
registerSecretValue(PRIVATE_PEM.split('\n')[5], 'gcp test service-account private key');

const KEY_V1 = 'gcp-jack-key-version-1';
const KEY_V2 = 'gcp-jack-key-version-2';

function authConfig(emu: GcpSecretEmulator, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { client_email: EMAIL, private_key: PRIVATE_PEM, project_id: 'portico-test', token_uri: emu.tokenUri, ...overrides };
}

describe('GCP Secret Manager provider against the GCP emulator, through the resolver', () => {
  let emu: GcpSecretEmulator;
  let resolver: SecretResolver;
  let clock: ManualClock;
  let log: ReturnType<typeof captureLogger>;

  beforeEach(async () => {
    emu = await startGcpSecretEmulator({ serviceAccounts: [{ client_email: EMAIL, public_key: PUBLIC_PEM }] });
    emu.putSecret('jack', KEY_V1);
    emu.putSecret('creds', { 'auth-key': 'gcp-creds-field-value', pin: 42 });
    clock = new ManualClock();
    log = captureLogger();
    resolver = new SecretResolver({
      ttlSeconds: 300, negTtlSeconds: 60, maxEntries: 1000, now: clock.now, random: () => 0.5, logger: log.logger,
    });
  });
  afterEach(async () => {
    resolver.close();
    await emu.close();
  });

  const setConf = (id = 'g1', conf: Record<string, unknown> = {}) =>
    resolver.setProvider('gcp', id, { auth_config: authConfig(emu), endpoint: emu.endpoint, retries: 0, ...conf });

  it('is registered by default and resolves lazily: no call until a reference is asked for', async () => {
    setConf();
    expect(emu.calls.total).toBe(0);
    expect(await resolver.resolve('$secret://gcp/g1/jack')).toBe(KEY_V1);
    expect(await resolver.resolve('$secret://gcp/g1/creds/auth-key')).toBe('gcp-creds-field-value');
    expect(await resolver.resolve('$secret://gcp/g1/creds/pin')).toBe('42');
    expect(emu.calls).toMatchObject({ token: 1, access: 3, bySecret: { jack: 1, creds: 2 } });
  });

  it('shares one fetch among concurrent cold requests (single-flight) and one token among many reads', async () => {
    setConf();
    const [values, fields] = await Promise.all([
      Promise.all(Array.from({ length: 200 }, () => resolver.resolve('$secret://gcp/g1/jack'))),
      Promise.all(Array.from({ length: 50 }, () => resolver.resolve('$secret://gcp/g1/creds/auth-key'))),
    ]);
    expect(new Set(values)).toEqual(new Set([KEY_V1]));
    expect(new Set(fields)).toEqual(new Set(['gcp-creds-field-value']));
    expect(emu.calls).toMatchObject({ token: 1, bySecret: { jack: 1, creds: 1 } }); // cold reads of two secrets share one token request
    for (let i = 0; i < 5; i++) {
      clock.advance(301);
      resolver.refreshIfStale('$secret://gcp/g1/jack');
      await resolver.whenSettled('$secret://gcp/g1/jack');
    }
    expect(emu.callsFor('jack')).toBe(6);
    expect(emu.calls.token).toBe(1);
  });

  it('picks up a new version after the TTL, not before', async () => {
    setConf();
    const ref = '$secret://gcp/g1/jack';
    expect(await resolver.resolve(ref)).toBe(KEY_V1);
    expect(emu.putSecret('jack', KEY_V2)).toBe(2);
    clock.advance(299);
    expect(await resolver.resolve(ref)).toBe(KEY_V1);
    expect(emu.callsFor('jack')).toBe(1);
    clock.advance(2);
    resolver.refreshIfStale(ref);
    await resolver.whenSettled(ref);
    expect(resolver.peek(ref)).toMatchObject({ state: 'fresh', value: KEY_V2 });
    expect(emu.callsFor('jack')).toBe(2);
  });

  it('renews the token when it expires or is revoked', async () => {
    await emu.close();
    let wall = Date.now();
    emu = await startGcpSecretEmulator({ serviceAccounts: [{ client_email: EMAIL, public_key: PUBLIC_PEM }], tokenTtlSeconds: 3600, now: () => wall });
    emu.putSecret('jack', KEY_V1);
    const provider = createGcpProvider({ auth_config: authConfig(emu), endpoint: emu.endpoint }, { now: () => wall });
    expect(await provider.get('jack')).toBe(KEY_V1);
    expect(await provider.get('jack')).toBe(KEY_V1);
    expect(emu.calls.token).toBe(1);
    wall += 3600_000 - 30_000; // within the last minute of the token's life: renewed first
    expect(await provider.get('jack')).toBe(KEY_V1);
    expect(emu.calls.token).toBe(2);
    wall += 10_000; // the emulator's token still has about an hour: no renewal
    expect(await provider.get('jack')).toBe(KEY_V1);
    expect(emu.calls.token).toBe(2);
    emu.revokeTokens();
    expect(await provider.get('jack')).toBe(KEY_V1); // 401, new token, retried once
    expect(emu.calls).toMatchObject({ token: 3, access: 6 });
  });

  it('reads the service account from auth_file (path possibly from $env://)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-gcp-'));
    try {
      const file = path.join(dir, 'sa.json');
      fs.writeFileSync(file, JSON.stringify({ type: 'service_account', private_key_id: 'k1', client_id: '1', ...authConfig(emu) }), { mode: 0o600 });
      const r = new SecretResolver({ ttlSeconds: 300, negTtlSeconds: 60, maxEntries: 10, now: clock.now, logger: log.logger, env: { SA_FILE: file } });
      try {
        r.setProvider('gcp', 'f', { auth_file: '$env://SA_FILE', endpoint: emu.endpoint });
        expect(await r.resolve('$secret://gcp/f/jack')).toBe(KEY_V1);
      } finally {
        r.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails closed with a key the token endpoint does not accept, logging neither key nor token', async () => {
    setConf('bad', { auth_config: authConfig(emu, { private_key: OTHER_PEM }) });
    setConf('who', { auth_config: authConfig(emu, { client_email: 'nobody@portico-test.iam.gserviceaccount.com' }) });
    setConf('proj', { auth_config: authConfig(emu, { project_id: 'someone-elses-project' }) });
    expect(await resolver.resolve('$secret://gcp/bad/jack')).toBeUndefined();
    expect(await resolver.resolve('$secret://gcp/who/jack')).toBeUndefined();
    expect(await resolver.resolve('$secret://gcp/proj/jack')).toBeUndefined();
    expect(emu.calls).toMatchObject({ token: 3, access: 1 });
    const text = log.text();
    expect(text).toContain('$secret://gcp/bad/jack');
    expect(text).toContain('invalid_grant');
    expect(text).toContain('HTTP 403 PERMISSION_DENIED');
    for (const v of [KEY_V1, OTHER_PEM.split('\n')[3], PRIVATE_PEM.split('\n')[3], 'ya29.']) expect(text).not.toContain(v);
  });

  it('rejects an unusable conf at build time without quoting the key', async () => {
    expect(() => resolveGcpConf({ auth_config: { client_email: EMAIL, private_key: 'not-a-pem-key-material', project_id: 'p' } }))
      .toThrow(/private_key is not a PEM private key/);
    expect(() => resolveGcpConf({ auth_config: authConfig(emu), auth_file: '/x' })).toThrow(/exactly one/);
    setConf('broken', { auth_config: { client_email: EMAIL, private_key: 'not-a-pem-key-material', project_id: 'p' } });
    expect(await resolver.resolve('$secret://gcp/broken/jack')).toBeUndefined();
    expect(emu.calls.total).toBe(0);
    expect(log.text()).not.toContain('not-a-pem-key-material');
  });

  it('a missing secret, version or field is not found (404 NOT_FOUND), and a deleted secret stops serving', async () => {
    setConf();
    expect(await resolver.resolve('$secret://gcp/g1/nobody')).toBeUndefined();
    expect(await resolver.resolve('$secret://gcp/g1/creds/nofield')).toBeUndefined();
    expect(await resolver.resolve('$secret://gcp/g1/jack')).toBe(KEY_V1);
    emu.deleteSecret('jack');
    clock.advance(301);
    resolver.refreshIfStale('$secret://gcp/g1/jack');
    await resolver.whenSettled('$secret://gcp/g1/jack');
    expect(resolver.peek('$secret://gcp/g1/jack').value).toBeUndefined();
    expect(log.text()).toContain('does not exist');
  });

  it('serves the last value while the provider fails (stale-if-error), and recovers', async () => {
    setConf();
    const ref = '$secret://gcp/g1/jack';
    expect(await resolver.resolve(ref)).toBe(KEY_V1);
    emu.putSecret('jack', KEY_V2);
    for (const fault of ['500', 'outage'] as const) {
      emu.injectError(fault);
      clock.advance(301);
      expect(await resolver.resolve(ref)).toBe(KEY_V1); // stale, refresh in the background
      await resolver.whenSettled(ref);
      expect(resolver.peek(ref)).toMatchObject({ state: 'stale', value: KEY_V1 });
      expect(await resolver.resolve('$secret://gcp/g1/cold-' + fault)).toBeUndefined(); // cold: fails closed
    }
    expect(resolver.stats().gcp.errors).toBeGreaterThanOrEqual(4);
    emu.injectError(null);
    clock.advance(61); // past neg_ttl
    resolver.refreshIfStale(ref);
    await resolver.whenSettled(ref);
    expect(resolver.peek(ref)).toMatchObject({ state: 'fresh', value: KEY_V2 });
    expect(log.text()).not.toContain(KEY_V1);
  });

  it('times out a slow provider per request_timeout and keeps serving the stale value', async () => {
    setConf('slow', { request_timeout: 0.2 });
    const ref = '$secret://gcp/slow/jack';
    expect(await resolver.resolve(ref)).toBe(KEY_V1);
    emu.injectLatency(2000);
    clock.advance(301);
    const started = Date.now();
    expect(await resolver.resolve(ref)).toBe(KEY_V1);
    await resolver.whenSettled(ref);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(log.text()).toContain('TimeoutError');
    emu.injectLatency(0);
  });
});
