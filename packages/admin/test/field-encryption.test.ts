import './helpers/quiet-logs';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError, ENCRYPTED_PREFIX, FieldCipher, FieldDecryptionError, KEYRING_FILE, decryptFields, encryptFields,
  fieldCipherFromConfig, loadKeyring,
} from '@portico/core';
import { Harness, openTestStore, startHarness, testConfig } from './helpers/admin-harness';
import { recordingLogger } from './helpers/recording-logger';
import { TLS } from './helpers/resource-fixtures';

/**
 * Encryption at rest of sensitive fields (SPEC §5.6): core's cipher, field table and keyring
 * loading, then the admin API encrypting on write and answering in plaintext.
 * (Unit tests of core/src/crypto live here because this change owns admin/test, not core/test.)
 */

const OLD = 'old-keyring-entry-0001';
const NEW = 'new-keyring-entry-0002';
const BASE = '/apisix/admin';

describe('FieldCipher', () => {
  it('round-trips, with a recognisable prefix and a fresh IV per value', () => {
    const c = new FieldCipher([NEW]);
    const a = c.encrypt('s3cret-värde');
    const b = c.encrypt('s3cret-värde');
    expect(a.startsWith(ENCRYPTED_PREFIX)).toBe(true);
    expect(a).not.toBe(b);
    expect(a).not.toContain('s3cret');
    expect(c.decrypt(a)).toBe('s3cret-värde');
    expect(c.decrypt(b)).toBe('s3cret-värde');
  });

  it('reads plaintext (older writes) as it is, and wraps even a value that looks encrypted', () => {
    const c = new FieldCipher([NEW]);
    expect(c.decrypt('plain-key')).toBe('plain-key');
    const tricky = `${ENCRYPTED_PREFIX}not-really`;
    expect(c.decrypt(c.encrypt(tricky))).toBe(tricky);
  });

  it('rotates: encrypts with the first entry, decrypts with any', () => {
    const before = new FieldCipher([OLD]).encrypt('k');
    const rotated = new FieldCipher([NEW, OLD]);
    expect(rotated.decrypt(before)).toBe('k');
    const after = rotated.encrypt('k');
    expect(new FieldCipher([NEW]).decrypt(after)).toBe('k');
    expect(() => new FieldCipher([OLD]).decrypt(after)).toThrow(FieldDecryptionError);
  });

  it('detects tampering and truncation', () => {
    const c = new FieldCipher([NEW]);
    const v = c.encrypt('value');
    const body = Buffer.from(v.slice(ENCRYPTED_PREFIX.length), 'base64url');
    body[body.length - 1] ^= 1;
    expect(() => c.decrypt(ENCRYPTED_PREFIX + body.toString('base64url'))).toThrow(FieldDecryptionError);
    expect(() => c.decrypt(`${ENCRYPTED_PREFIX}AAAA`)).toThrow('truncated');
  });

  it('refuses an empty keyring or a short entry, naming the setting and never the value', () => {
    expect(() => new FieldCipher([])).toThrow(ConfigError);
    const short = () => new FieldCipher([NEW, 'tooShort123']);
    expect(short).toThrow(ConfigError);
    expect(short).toThrow('apisix.data_encryption.keyring[1] must be a string of at least 16 characters');
    expect(short).not.toThrow(/tooShort123/);
  });

  it('with encryptWrites false, writes plaintext but still decrypts', () => {
    const stored = new FieldCipher([OLD]).encrypt('k');
    const readOnly = new FieldCipher([OLD], { encryptWrites: false });
    expect(readOnly.encrypt('k')).toBe('k');
    expect(readOnly.decrypt(stored)).toBe('k');
  });
});

describe('encryptFields / decryptFields', () => {
  const cipher = new FieldCipher([NEW]);
  const cases: Array<[string, Parameters<typeof encryptFields>[0], Record<string, unknown>, string[][]]> = [
    ['consumer key-auth key', 'consumers', { username: 'u', desc: 'key', plugins: { 'key-auth': { key: 'k1' } } }, [['plugins', 'key-auth', 'key']]],
    ['credential basic-auth password', 'credentials', { id: 'c', plugins: { 'basic-auth': { username: 'u', password: 'pw' } } }, [['plugins', 'basic-auth', 'password']]],
    ['aws secret', 'secrets', { region: 'r', access_key_id: 'AKIA', secret_access_key: 'sk', session_token: 'st' }, [['secret_access_key'], ['session_token']]],
    ['vault token', 'secrets', { uri: 'http://v', prefix: 'p', token: 'tk' }, [['token']]],
    ['gcp private key', 'secrets', { auth_config: { client_email: 'e', private_key: 'pk', project_id: 'p' } }, [['auth_config', 'private_key']]],
    ['ssl keys', 'ssls', { cert: 'c', key: 'k', certs: ['c2', 'c3'], keys: ['k2', 'k3'] }, [['key'], ['keys', '0'], ['keys', '1']]],
  ];

  const at = (v: unknown, path: string[]) => path.reduce<any>((o, k) => o?.[k], v);

  it.each(cases)('encrypts exactly the sensitive fields of a %s, without touching the input', (_name, kind, value, paths) => {
    const copy = structuredClone(value);
    const enc = encryptFields(kind, value, cipher) as Record<string, unknown>;
    expect(value).toEqual(copy);
    for (const p of paths) {
      expect(at(enc, p)).toMatch(/^\$enc:v1:/);
      expect(at(enc, p)).not.toBe(at(value, p));
    }
    // Everything else is as it was.
    const strip = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'string' && x.startsWith(ENCRYPTED_PREFIX) ? '*' : x)));
    const masked = structuredClone(value);
    for (const p of paths) {
      const parent = at(masked, p.slice(0, -1));
      parent[p[p.length - 1]] = '*';
    }
    expect(strip(enc)).toEqual(masked);
    expect(decryptFields(kind, enc, cipher)).toEqual(value);
  });

  it('leaves resources without sensitive fields, missing fields and non-strings alone', () => {
    const route = { uri: '/', plugins: { 'key-auth': { key: 'not-a-consumer-field' } } };
    expect(encryptFields('routes', route, cipher)).toBe(route);
    const odd = { username: 'u', plugins: { 'key-auth': { key: 42 } } };
    expect(encryptFields('consumers', odd, cipher)).toEqual(odd);
    expect(encryptFields('consumers', { username: 'u' }, cipher)).toEqual({ username: 'u' });
  });

  it('is the identity without a cipher; decrypting an encrypted field without one names the field, not the value', () => {
    const v = { username: 'u', plugins: { 'key-auth': { key: 'k' } } };
    expect(encryptFields('consumers', v, undefined)).toBe(v);
    expect(decryptFields('consumers', v, undefined)).toEqual(v);
    const enc = encryptFields('consumers', v, cipher);
    expect(() => decryptFields('consumers', enc, undefined)).toThrow('cannot decrypt field plugins.key-auth.key of consumers: no keyring is configured');
    expect(() => decryptFields('consumers', enc, new FieldCipher([OLD]))).toThrow(FieldDecryptionError);
  });
});

describe('loadKeyring / fieldCipherFromConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-keyring-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const cfg = (data_encryption: Record<string, unknown>, provider: 'embedded' | 'etcd' = 'embedded') =>
    testConfig({ apisix: { data_encryption }, deployment: { config_provider: provider } });

  it('uses a configured keyring as it is, in either mode, and writes nothing', () => {
    expect(loadKeyring(cfg({ keyring: [NEW, OLD] }), dir, 'embedded')).toEqual([NEW, OLD]);
    // `${{OLD_KEY:=}}` left empty: skipped. A short entry: an error naming its position only.
    expect(loadKeyring(cfg({ keyring: [NEW, ''] }), dir, 'embedded')).toEqual([NEW]);
    expect(() => loadKeyring(cfg({ keyring: ['', 'short-secret'] }), dir, 'embedded')).toThrow('apisix.data_encryption.keyring[1] must be at least 16 characters');
    expect(() => loadKeyring(cfg({ keyring: ['', 'short-secret'] }), dir, 'embedded')).not.toThrow(/short-secret/);
    expect(loadKeyring(cfg({ keyring: [NEW] }, 'etcd'), dir, 'etcd')).toEqual([NEW]);
    expect(() => statSync(join(dir, KEYRING_FILE))).toThrow();
  });

  it('embedded with an empty keyring: generates one entry once, mode 0600, and reuses it', () => {
    const dataDir = join(dir, 'data'); // not there yet
    const first = loadKeyring(cfg({ keyring: [] }), dataDir, 'embedded');
    expect(first).toHaveLength(1);
    expect(first[0].length).toBeGreaterThanOrEqual(32);
    const file = join(dataDir, KEYRING_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first[0]);
    expect(loadKeyring(cfg({ keyring: [] }), dataDir, 'embedded')).toEqual(first);
    // And the cipher it makes reads what an earlier cipher from the same file wrote.
    const a = fieldCipherFromConfig(cfg({}), dataDir)!;
    const b = fieldCipherFromConfig(cfg({}), dataDir)!;
    expect(b.decrypt(a.encrypt('x'))).toBe('x');
  });

  it('etcd with an empty keyring: a ConfigError naming apisix.data_encryption.keyring', () => {
    const load = () => loadKeyring(cfg({ keyring: [] }, 'etcd'), dir, 'etcd');
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/apisix\.data_encryption\.keyring is empty/);
    expect(() => fieldCipherFromConfig(cfg({ keyring: [] }, 'etcd'), dir)).toThrow(ConfigError);
  });

  it('with encryption disabled: nothing generated, nothing required, an existing keyring still read', () => {
    expect(loadKeyring(cfg({ enable_encrypt_fields: false }, 'etcd'), dir, 'etcd')).toEqual([]);
    expect(loadKeyring(cfg({ enable_encrypt_fields: false }), dir, 'embedded')).toEqual([]);
    expect(fieldCipherFromConfig(cfg({ enable_encrypt_fields: false }), dir)).toBeUndefined();
    expect(() => statSync(join(dir, KEYRING_FILE))).toThrow();
    writeFileSync(join(dir, KEYRING_FILE), `${OLD}\n`, { mode: 0o600 });
    const readOnly = fieldCipherFromConfig(cfg({ enable_encrypt_fields: false }), dir)!;
    expect(readOnly.encryptWrites).toBe(false);
    expect(readOnly.decrypt(new FieldCipher([OLD]).encrypt('k'))).toBe('k');
  });
});

describe('admin API with encryption at rest', () => {
  let h: Harness;
  const log = recordingLogger();
  const cipher = new FieldCipher([NEW, OLD]);
  const raw = async (key: string) => (await h.store.get(key))!.value;

  beforeAll(async () => {
    h = await startHarness({ cipher, logger: log.logger });
  });
  afterAll(async () => {
    await h.close();
  });

  it('stores sensitive fields encrypted and answers in plaintext (PUT, GET, list)', async () => {
    const consumer = { username: 'jack', plugins: { 'key-auth': { key: 'jack-plain-key' } } };
    const put = await h.call('PUT', `${BASE}/consumers`, consumer);
    expect(put.json.value.plugins['key-auth'].key).toBe('jack-plain-key');
    const stored = await raw('/apisix/consumers/jack');
    expect(stored).not.toContain('jack-plain-key');
    expect(JSON.parse(stored).plugins['key-auth'].key).toMatch(/^\$enc:v1:/);
    expect((await h.call('GET', `${BASE}/consumers/jack`)).json.value).toEqual(put.json.value);
    expect((await h.call('GET', `${BASE}/consumers`)).json.list[0].value).toEqual(put.json.value);

    const secret = { region: 'us-east-1', access_key_id: 'AKIA', secret_access_key: 'aws-plain-secret', session_token: 'aws-plain-token' };
    const s = await h.call('PUT', `${BASE}/secrets/aws/1`, secret);
    expect(s.json.value).toMatchObject(secret);
    const storedSecret = await raw('/apisix/secrets/aws/1');
    expect(storedSecret).not.toContain('aws-plain');
    expect(JSON.parse(storedSecret).access_key_id).toBe('AKIA');

    await h.call('PUT', `${BASE}/ssls/t`, { cert: TLS.cert, key: TLS.key, snis: ['test.example.com'] });
    const storedSsl = JSON.parse(await raw('/apisix/ssls/t'));
    expect(storedSsl.key).toMatch(/^\$enc:v1:/);
    expect(storedSsl.cert).toBe(TLS.cert);
  });

  it('keeps fields encrypted through a PATCH, and the plaintext unchanged', async () => {
    const r = await h.call('PATCH', `${BASE}/secrets/aws/1`, { region: 'eu-west-1' });
    expect(r.json.value).toMatchObject({ region: 'eu-west-1', secret_access_key: 'aws-plain-secret' });
    const stored = JSON.parse(await raw('/apisix/secrets/aws/1'));
    expect(cipher.decrypt(stored.secret_access_key)).toBe('aws-plain-secret');
    const sub = await h.call('PATCH', `${BASE}/secrets/aws/1/session_token`, '"rotated-token"');
    expect(sub.json.value.session_token).toBe('rotated-token');
    expect(await raw('/apisix/secrets/aws/1')).not.toContain('rotated-token');
  });

  it('compares decrypted keys for duplicates, including plaintext left by older writes', async () => {
    const dup = await h.call('PUT', `${BASE}/consumers`, { username: 'jill', plugins: { 'key-auth': { key: 'jack-plain-key' } } });
    expect([dup.status, dup.json]).toEqual([400, { error_msg: 'duplicate key of plugin key-auth found with consumer: jack' }]);
    await h.store.put('/apisix/consumers/legacy', JSON.stringify({ username: 'legacy', plugins: { 'key-auth': { key: 'legacy-plain' } } }));
    expect((await h.call('GET', `${BASE}/consumers/legacy`)).json.value.plugins['key-auth'].key).toBe('legacy-plain');
    await h.call('PUT', `${BASE}/consumers`, { username: 'owner' });
    const dup2 = await h.call('PUT', `${BASE}/consumers/owner/credentials/c`, { plugins: { 'key-auth': { key: 'legacy-plain' } } });
    expect([dup2.status, dup2.json]).toEqual([400, { error_msg: 'duplicate key of plugin key-auth found with consumer: legacy' }]);
  });

  it('gives the data plane what it needs: decryptFields on the stored value yields what the admin accepted', async () => {
    await h.call('PUT', `${BASE}/consumers/owner/credentials/dp`, { plugins: { 'key-auth': { key: 'dp-key' } } });
    const stored = JSON.parse(await raw('/apisix/consumers/owner/credentials/dp'));
    expect(decryptFields('credentials', stored, new FieldCipher([NEW]))).toMatchObject({ id: 'dp', plugins: { 'key-auth': { key: 'dp-key' } } });
  });

  it('never logs a plaintext secret', () => {
    const logged = JSON.stringify(log.entries);
    for (const secret of ['jack-plain-key', 'aws-plain-secret', 'aws-plain-token', 'rotated-token', 'dp-key', 'legacy-plain']) {
      expect(logged).not.toContain(secret);
    }
  });
});

describe('admin API across a keyring rotation', () => {
  it('reads old values after rotation, writes with the new entry, and without the old entry shows ciphertext (never a 5xx)', async () => {
    const { store, cleanup } = await openTestStore();
    const withOld = await startHarness({ store, cipher: new FieldCipher([OLD]) });
    try {
      await withOld.call('PUT', `${BASE}/consumers`, { username: 'ann', plugins: { 'key-auth': { key: 'ann-key' } } });
    } finally {
      await withOld.close();
    }
    const rotated = await startHarness({ store, cipher: new FieldCipher([NEW, OLD]) });
    try {
      expect((await rotated.call('GET', `${BASE}/consumers/ann`)).json.value.plugins['key-auth'].key).toBe('ann-key');
      await rotated.call('PUT', `${BASE}/consumers`, { username: 'bob', plugins: { 'key-auth': { key: 'bob-key' } } });
      const bobStored = JSON.parse((await store.get('/apisix/consumers/bob'))!.value).plugins['key-auth'].key;
      expect(new FieldCipher([NEW]).decrypt(bobStored)).toBe('bob-key');
    } finally {
      await rotated.close();
    }
    const log = recordingLogger();
    const newOnly = await startHarness({ store, cipher: new FieldCipher([NEW]), logger: log.logger });
    try {
      const ann = await newOnly.call('GET', `${BASE}/consumers/ann`);
      expect(ann.status).toBe(200);
      expect(ann.json.value.plugins['key-auth'].key).toMatch(/^\$enc:v1:/);
      expect(log.entries.some((e) => e.msg === 'stored value cannot be decrypted; shown as stored')).toBe(true);
      const patch = await newOnly.call('PATCH', `${BASE}/consumers/ann`, { desc: 'x' });
      expect(patch.status).toBe(405);
      // A resource with PATCH refuses to merge into what it cannot read.
      await store.put('/apisix/secrets/aws/old', JSON.stringify({ region: 'r', access_key_id: 'a', secret_access_key: new FieldCipher([OLD]).encrypt('s') }));
      const sp = await newOnly.call('PATCH', `${BASE}/secrets/aws/old`, { region: 'x' });
      expect([sp.status, sp.json]).toEqual([400, { error_msg: 'the stored value has fields the configured keyring cannot decrypt; replace it with PUT' }]);
      // Rewriting with PUT re-encrypts under the current keyring.
      expect((await newOnly.call('PUT', `${BASE}/consumers/ann`, { username: 'ann', plugins: { 'key-auth': { key: 'ann-key' } } })).status).toBe(200);
      expect((await newOnly.call('GET', `${BASE}/consumers/ann`)).json.value.plugins['key-auth'].key).toBe('ann-key');
    } finally {
      await newOnly.close();
      await cleanup();
    }
  });
});
