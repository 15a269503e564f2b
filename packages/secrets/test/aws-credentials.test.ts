import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAwsSecretsEmulator, type AwsCredential, type AwsSecretsEmulator } from '../../testkit/src/aws-secrets-emulator';
import { startStsEmulator, type StsEmulator } from '../../testkit/src/sts-emulator';
import { CREDS, harness, type Harness } from './helpers';

/**
 * The AWS provider without a key pair (default credential chain) and with assume_role_arn,
 * against the Secrets Manager emulator and the STS emulator: the real SDK chain end to end.
 */

const CHAIN_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_EC2_METADATA_DISABLED',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'];
const ROLE = 'arn:aws:iam::123456789012:role/portico-gateway';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.portico-web-identity-token.sig';

describe('AWS credentials', () => {
  let saved: Record<string, string | undefined>;
  let dir: string;
  let emu: AwsSecretsEmulator;
  let sts: StsEmulator;
  /** what the Secrets Manager emulator accepts: only credentials STS issued, unless a test adds */
  let accepted: AwsCredential[];
  let h: Harness;

  beforeEach(async () => {
    saved = Object.fromEntries(CHAIN_ENV.map((k) => [k, process.env[k]]));
    for (const k of CHAIN_ENV) delete process.env[k];
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-aws-cred-'));
    // no shared config from the machine running the tests, no instance metadata
    process.env.AWS_CONFIG_FILE = path.join(dir, 'no-config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'no-credentials');
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    accepted = [];
    emu = await startAwsSecretsEmulator({ credentials: accepted });
    emu.putSecret('chain', { key: 'chain-secret-value' });
    sts = await startStsEmulator({
      roles: [{ arn: ROLE, webIdentityTokens: [TOKEN] }, { arn: `${ROLE}-ext`, externalId: 'ext-id-42' }],
      credentials: [CREDS],
      issued: accepted,
    });
    h = await harness();
  });
  afterEach(async () => {
    await h.close();
    await emu.close();
    await sts.close();
    for (const k of CHAIN_ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const REF = '$secret://aws/chain/chain/key';
  const base = () => ({ region: 'us-east-1', endpoint_url: emu.endpoint, sts_endpoint_url: sts.endpoint });

  it('without a key pair, authenticates from environment variables', async () => {
    accepted.push({ accessKeyId: 'AKIDFROMENV', secretAccessKey: 'env-secret-access-key' });
    process.env.AWS_ACCESS_KEY_ID = 'AKIDFROMENV';
    process.env.AWS_SECRET_ACCESS_KEY = 'env-secret-access-key';
    h.resolver.setProvider('aws', 'chain', base());
    expect(await h.resolver.resolve(REF)).toBe('chain-secret-value');
    expect(sts.calls).toEqual([]);
  });

  it('fails closed when the chain finds nothing, naming no secret', async () => {
    h.resolver.setProvider('aws', 'chain', base());
    expect(await h.resolver.resolve(REF)).toBeUndefined();
    expect(emu.calls.total).toBe(0);
    expect(h.log.text()).toContain(REF);
  });

  it('without a key pair, authenticates via a web-identity token file (IRSA) through STS', async () => {
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, TOKEN);
    process.env.AWS_WEB_IDENTITY_TOKEN_FILE = tokenFile;
    process.env.AWS_ROLE_ARN = ROLE;
    process.env.AWS_ROLE_SESSION_NAME = 'portico-node-1';
    h.resolver.setProvider('aws', 'chain', base());
    expect(await h.resolver.resolve(REF)).toBe('chain-secret-value');
    expect(sts.calls).toEqual([{ action: 'AssumeRoleWithWebIdentity', roleArn: ROLE, roleSessionName: 'portico-node-1', externalId: undefined, ok: true }]);
    expect(accepted).toHaveLength(1); // the only credential the emulator accepts is the one STS issued
    // credentials are cached by the SDK until they near expiry: more reads, no more STS calls
    h.clock.advance(301);
    h.resolver.refreshIfStale(REF);
    await h.resolver.whenSettled(REF);
    expect(emu.calls.total).toBe(2);
    expect(sts.calls).toHaveLength(1);
    expect(h.log.text()).not.toContain(TOKEN);
  });

  it('rejects a wrong web-identity token (fail closed)', async () => {
    const tokenFile = path.join(dir, 'token');
    fs.writeFileSync(tokenFile, 'not-the-token');
    process.env.AWS_WEB_IDENTITY_TOKEN_FILE = tokenFile;
    process.env.AWS_ROLE_ARN = ROLE;
    h.resolver.setProvider('aws', 'chain', base());
    expect(await h.resolver.resolve(REF)).toBeUndefined();
    expect(sts.calls.map((c) => c.ok)).toContain(false);
    expect(emu.calls.total).toBe(0);
  });

  it('assume_role_arn: AssumeRole with the static keys, session name and external id, then reads with the role', async () => {
    h.resolver.setProvider('aws', 'chain', {
      ...base(),
      access_key_id: CREDS.accessKeyId,
      secret_access_key: CREDS.secretAccessKey,
      assume_role_arn: `${ROLE}-ext`,
      role_session_name: 'portico-gw',
      external_id: 'ext-id-42',
    });
    expect(await h.resolver.resolve(REF)).toBe('chain-secret-value');
    expect(sts.calls).toEqual([{ action: 'AssumeRole', roleArn: `${ROLE}-ext`, roleSessionName: 'portico-gw', externalId: 'ext-id-42', ok: true }]);
  });

  it('assume_role_arn on top of the default chain (environment)', async () => {
    process.env.AWS_ACCESS_KEY_ID = CREDS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = CREDS.secretAccessKey;
    h.resolver.setProvider('aws', 'chain', { ...base(), assume_role_arn: ROLE });
    expect(await h.resolver.resolve(REF)).toBe('chain-secret-value');
    expect(sts.calls).toEqual([{ action: 'AssumeRole', roleArn: ROLE, roleSessionName: 'portico', externalId: undefined, ok: true }]);
  });

  it('a wrong external id is refused: the reference fails closed', async () => {
    h.resolver.setProvider('aws', 'chain', {
      ...base(),
      access_key_id: CREDS.accessKeyId,
      secret_access_key: CREDS.secretAccessKey,
      assume_role_arn: `${ROLE}-ext`,
      external_id: 'wrong-ext',
    });
    expect(await h.resolver.resolve(REF)).toBeUndefined();
    expect(sts.calls.map((c) => c.ok)).toEqual([false]);
    expect(emu.calls.total).toBe(0);
    expect(h.log.text()).not.toContain(CREDS.secretAccessKey);
  });
});
