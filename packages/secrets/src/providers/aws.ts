process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretNotFoundError } from '../errors';
import { readJsonField } from '../json-field';
import { parseSecretRef } from '../reference';
import type { SecretProvider } from '../provider';
import { readEnv } from './env';

/** `/secrets/aws/<id>` (SPEC §4). Any string may be `$env://NAME[/field]`. */
export interface AwsSecretConf {
  access_key_id?: string;
  secret_access_key?: string;
  session_token?: string;
  region?: string;
  endpoint_url?: string;
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

/** Bound on remembered readings; paths come from configuration, so this is only a safety net. */
const MAX_REMEMBERED = 10_000;

const CONF_KEYS = ['access_key_id', 'secret_access_key', 'session_token', 'region', 'endpoint_url'] as const;

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
    this.client = new SecretsManagerClient({
      region: c.region ?? 'us-east-1',
      ...(c.endpoint_url ? { endpoint: c.endpoint_url } : {}),
      // Without a key pair the SDK's default chain applies (env, shared config, IRSA, IMDS):
      // SPEC §4, Portico differs.
      ...(c.access_key_id && c.secret_access_key
        ? { credentials: { accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key, sessionToken: c.session_token } }
        : {}),
      maxAttempts: opts.maxAttempts ?? 2,
      requestHandler: {
        requestTimeout: opts.requestTimeoutMs ?? 3000,
        connectionTimeout: opts.connectionTimeoutMs ?? 2000,
      },
    });
  }

  async get(path: string): Promise<string> {
    const slash = path.lastIndexOf('/');
    if (slash < 0) return this.whole(path);
    const name = path.slice(0, slash);
    const field = path.slice(slash + 1);
    const order: Reading[] = this.readings.get(path) === 'whole' ? ['whole', 'field'] : ['field', 'whole'];
    const absent: string[] = [];
    for (const reading of order) {
      try {
        const value = reading === 'field' ? await this.field(name, field) : await this.whole(path);
        this.remember(path, reading);
        return value;
      } catch (e) {
        // Only absence justifies trying the other reading; an outage would just cost a second call.
        if (!(e instanceof SecretNotFoundError)) throw e;
        absent.push(e.message);
      }
    }
    this.readings.delete(path);
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

  private async field(name: string, field: string): Promise<string> {
    return readJsonField(await this.whole(name), field, `AWS secret "${name}"`);
  }

  private async whole(name: string): Promise<string> {
    let out;
    try {
      out = await this.client.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }));
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
