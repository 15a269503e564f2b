process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import type { SecretsManagerClient, SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { SecretNotFoundError } from '../errors';
import { readJsonField } from '../json-field';
import { parseSecretRef } from '../reference';
import type { SecretProvider } from '../provider';
import { readEnv } from './env';

/**
 * The AWS SDK (about 14 MB resident) is loaded when the first AWS provider is built, so a node
 * with no `/secrets/aws/...` resource never pays for it.
 */
type SecretsManagerModule = typeof import('@aws-sdk/client-secrets-manager');
type CredentialProvidersModule = typeof import('@aws-sdk/credential-providers');
let sdk: SecretsManagerModule | undefined;
let credentialProviders: CredentialProvidersModule | undefined;
// The AWS SDK is loaded on first use, so a node without AWS secrets never pays for it.
/* eslint-disable @typescript-eslint/no-require-imports */
const secretsManager = (): SecretsManagerModule => (sdk ??= require('@aws-sdk/client-secrets-manager') as SecretsManagerModule);
const providers = (): CredentialProvidersModule =>
  (credentialProviders ??= require('@aws-sdk/credential-providers') as CredentialProvidersModule);
/* eslint-enable @typescript-eslint/no-require-imports */

/** `/secrets/aws/<id>` (SPEC §4). Any string may be `$env://NAME[/field]`. */
export interface AwsSecretConf {
  access_key_id?: string;
  secret_access_key?: string;
  session_token?: string;
  region?: string;
  endpoint_url?: string;
  /** STS endpoint for assume_role_arn and web identity (default: the regional AWS endpoint) */
  sts_endpoint_url?: string;
  /** assume this role (STS AssumeRole) with the static keys or the default chain */
  assume_role_arn?: string;
  role_session_name?: string;
  external_id?: string;
  /** seconds per attempt (default 3) */
  request_timeout?: number;
  /** seconds to connect (default 2) */
  connect_timeout?: number;
  /** retries after the first attempt (default 1) */
  retries?: number;
}

export interface AwsProviderOptions {
  /** where `$env://` strings in the conf are read (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** per attempt; a hung Secrets Manager must not hold a cold request for long (default 3000) */
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /** SDK attempts per call, retries included (default 2) */
  maxAttempts?: number;
}

type Reading = 'field' | 'whole';
type Stage = 'AWSCURRENT' | 'AWSPREVIOUS';
type Credentials = NonNullable<SecretsManagerClientConfig['credentials']>;

/**
 * The credentials the Secrets Manager client signs with: the static key pair when configured,
 * else the default chain (environment, shared config/profile, container credentials, web
 * identity / IRSA, instance metadata); then, with assume_role_arn, STS AssumeRole on top.
 * The chain is built explicitly (not left to the client) so that sts_endpoint_url reaches
 * web identity too.
 */
export function awsCredentials(c: AwsSecretConf): Credentials {
  const region = c.region ?? 'us-east-1';
  const stsClientConfig = { region, ...(c.sts_endpoint_url ? { endpoint: c.sts_endpoint_url } : {}) };
  const base = c.access_key_id && c.secret_access_key
    ? { accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key, sessionToken: c.session_token }
    : providers().fromNodeProviderChain({ clientConfig: stsClientConfig });
  if (!c.assume_role_arn) return base;
  return providers().fromTemporaryCredentials({
    masterCredentials: base,
    params: {
      RoleArn: c.assume_role_arn,
      RoleSessionName: c.role_session_name ?? 'portico',
      ...(c.external_id ? { ExternalId: c.external_id } : {}),
    },
    clientConfig: stsClientConfig,
  });
}

/** Bound on remembered readings; paths come from configuration, so this is only a safety net. */
const MAX_REMEMBERED = 10_000;

const CONF_KEYS = ['access_key_id', 'secret_access_key', 'session_token', 'region', 'endpoint_url', 'sts_endpoint_url',
  'assume_role_arn', 'role_session_name', 'external_id'] as const;
const NUMBER_KEYS = ['request_timeout', 'connect_timeout', 'retries'] as const;

/** Validates the conf and replaces `$env://` strings by their values. Errors name keys, never values. */
export function resolveAwsConf(conf: unknown, env: NodeJS.ProcessEnv = process.env): AwsSecretConf {
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) {
    throw new Error('aws secret manager configuration must be an object');
  }
  const out: AwsSecretConf = {};
  for (const key of CONF_KEYS) {
    const value = (conf as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') throw new Error(`aws secret manager: ${key} must be a non-empty string`);
    const ref = parseSecretRef(value);
    if (ref?.kind === 'env') {
      try {
        out[key] = readEnv(ref.name, ref.field, env);
      } catch (e) {
        throw new Error(`aws secret manager: ${key} refers to ${ref.raw}: ${(e as Error).message}`);
      }
    } else {
      out[key] = value;
    }
  }
  for (const key of NUMBER_KEYS) {
    const value = (conf as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error(`aws secret manager: ${key} must be a non-negative number`);
    out[key] = value;
  }
  if ((out.access_key_id === undefined) !== (out.secret_access_key === undefined)) {
    throw new Error('aws secret manager: access_key_id and secret_access_key go together');
  }
  return out;
}

function describe(e: unknown): string {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = err?.$metadata?.httpStatusCode;
  return `${err?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${String(err?.message ?? e).slice(0, 200)}`;
}

/**
 * AWS Secrets Manager. A path `a/b/c` can mean secret `a/b` field `c` or secret `a/b/c`
 * (names may contain `/`, SPEC §9): the field reading is tried first, as APISIX does, then the
 * whole one; the reading that worked is remembered per path, so the steady state is one call.
 * A single-segment path is always the whole secret.
 */
export class AwsSecretProvider implements SecretProvider {
  private readonly client: SecretsManagerClient;
  private readonly readings = new Map<string, Reading>();

  constructor(conf: unknown, opts: AwsProviderOptions = {}) {
    const c = resolveAwsConf(conf, opts.env);
    this.client = new (secretsManager().SecretsManagerClient)({
      region: c.region ?? 'us-east-1',
      ...(c.endpoint_url ? { endpoint: c.endpoint_url } : {}),
      // Without a key pair the default chain applies (env, shared config, IRSA, IMDS):
      // SPEC §4, Portico differs.
      credentials: awsCredentials(c),
      maxAttempts: c.retries !== undefined ? c.retries + 1 : opts.maxAttempts ?? 2,
      requestHandler: {
        requestTimeout: c.request_timeout !== undefined ? c.request_timeout * 1000 : opts.requestTimeoutMs ?? 3000,
        connectionTimeout: c.connect_timeout !== undefined ? c.connect_timeout * 1000 : opts.connectionTimeoutMs ?? 2000,
        // Without this the SDK only warns and a hung endpoint holds cold requests indefinitely.
        throwOnRequestTimeout: true,
      },
    });
  }

  get(path: string): Promise<string> {
    return this.read(path, 'AWSCURRENT');
  }

  /** The AWSPREVIOUS version, read the way get() last succeeded; undefined when there is none. */
  async getPrevious(path: string): Promise<string | undefined> {
    try {
      return await this.read(path, 'AWSPREVIOUS');
    } catch (e) {
      if (e instanceof SecretNotFoundError) return undefined;
      throw e;
    }
  }

  private async read(path: string, stage: Stage): Promise<string> {
    const slash = path.lastIndexOf('/');
    if (slash < 0) return this.whole(path, stage);
    const name = path.slice(0, slash);
    const field = path.slice(slash + 1);
    const order: Reading[] = this.readings.get(path) === 'whole' ? ['whole', 'field'] : ['field', 'whole'];
    const absent: string[] = [];
    for (const reading of order) {
      try {
        const value = reading === 'field' ? await this.field(name, field, stage) : await this.whole(path, stage);
        if (stage === 'AWSCURRENT') this.remember(path, reading);
        return value;
      } catch (e) {
        // Only absence justifies trying the other reading; an outage would just cost a second call.
        if (!(e instanceof SecretNotFoundError)) throw e;
        absent.push(e.message);
      }
    }
    if (stage === 'AWSCURRENT') this.readings.delete(path);
    throw new SecretNotFoundError(absent.join('; '));
  }

  close(): void {
    this.client.destroy();
  }

  private remember(path: string, reading: Reading): void {
    if (this.readings.get(path) === reading) return;
    if (this.readings.size >= MAX_REMEMBERED) this.readings.clear();
    this.readings.set(path, reading);
  }

  private async field(name: string, field: string, stage: Stage): Promise<string> {
    return readJsonField(await this.whole(name, stage), field, `AWS secret "${name}"`);
  }

  private async whole(name: string, stage: Stage): Promise<string> {
    let out;
    try {
      out = await this.client.send(new (secretsManager().GetSecretValueCommand)({ SecretId: name, VersionStage: stage }));
    } catch (e) {
      const type = (e as { name?: string })?.name;
      // InvalidRequestException here means "marked for deletion": as absent as not found.
      if (type === 'ResourceNotFoundException' || type === 'InvalidRequestException') {
        throw new SecretNotFoundError(`AWS secret "${name}" does not exist (${type})`);
      }
      throw new Error(`AWS GetSecretValue for secret "${name}" failed: ${describe(e)}`);
    }
    if (typeof out.SecretString !== 'string') {
      throw new SecretNotFoundError(`AWS secret "${name}" has no SecretString (binary secrets are not supported)`);
    }
    return out.SecretString;
  }
}

export function createAwsProvider(conf: unknown, opts?: AwsProviderOptions): SecretProvider {
  return new AwsSecretProvider(conf, opts);
}
