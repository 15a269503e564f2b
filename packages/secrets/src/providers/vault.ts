import { SecretNotFoundError } from '../errors';
import { readJsonField } from '../json-field';
import { parseSecretRef } from '../reference';
import type { SecretProvider } from '../provider';
import { readEnv } from './env';

/** `/secrets/vault/<id>` (SPEC §4). `token` may be `$env://NAME[/field]`. */
export interface VaultSecretConf {
  uri: string;
  prefix: string;
  token: string;
  namespace?: string;
  /** KV engine version (default 1, as APISIX) */
  kv_version?: 1 | 2;
  /** seconds per attempt (default 3) */
  request_timeout?: number;
  /** retries after the first attempt, for network errors and 5xx (default 1) */
  retries?: number;
}

export interface VaultProviderOptions {
  env?: NodeJS.ProcessEnv;
  /** fetch implementation (default global fetch) */
  fetch?: typeof fetch;
}

function str(conf: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = conf[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || (required && v === '')) throw new Error(`vault secret manager: ${key} must be a non-empty string`);
  return v;
}

/** Validates the conf and resolves `$env://` in token, uri and namespace. Errors name keys, never values. */
export function resolveVaultConf(conf: unknown, env: NodeJS.ProcessEnv = process.env): VaultSecretConf {
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) throw new Error('vault secret manager configuration must be an object');
  const c = conf as Record<string, unknown>;
  const deref = (key: string, v: string | undefined): string | undefined => {
    const ref = v === undefined ? undefined : parseSecretRef(v);
    if (ref?.kind !== 'env') return v;
    try {
      return readEnv(ref.name, ref.field, env);
    } catch (e) {
      throw new Error(`vault secret manager: ${key} refers to ${ref.raw}: ${(e as Error).message}`);
    }
  };
  const uri = deref('uri', str(c, 'uri', true))!;
  if (!/^https?:\/\//.test(uri)) throw new Error('vault secret manager: uri must start with http:// or https://');
  const kv = c.kv_version ?? 1;
  if (kv !== 1 && kv !== 2) throw new Error('vault secret manager: kv_version must be 1 or 2');
  const num = (key: string): number | undefined => {
    const v = c[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`vault secret manager: ${key} must be a non-negative number`);
    return v;
  };
  return {
    uri: uri.replace(/\/+$/, ''),
    prefix: (str(c, 'prefix', false) ?? '').replace(/^\/+|\/+$/g, ''),
    token: deref('token', str(c, 'token', true))!,
    namespace: deref('namespace', str(c, 'namespace', false)),
    kv_version: kv,
    request_timeout: num('request_timeout'),
    retries: num('retries'),
  };
}

/**
 * HashiCorp Vault, KV v1 or v2 (APISIX `secret/vault.lua`): a reference
 * `$secret://vault/<id>/<path>/<field>` reads `<uri>/v1/<prefix>/<path>` (KV v2:
 * `<uri>/v1/<mount>/data/<rest of prefix>/<path>`, the mount being the first prefix segment)
 * and returns `<field>` of its data.
 */
export class VaultSecretProvider implements SecretProvider {
  private readonly c: VaultSecretConf;
  private readonly fetch: typeof fetch;

  constructor(conf: unknown, opts: VaultProviderOptions = {}) {
    this.c = resolveVaultConf(conf, opts.env);
    this.fetch = opts.fetch ?? fetch;
  }

  async get(path: string): Promise<string> {
    const slash = path.lastIndexOf('/');
    if (slash <= 0) throw new SecretNotFoundError(`vault reference path "${path}" needs <secret>/<field>`);
    const name = path.slice(0, slash);
    const field = path.slice(slash + 1);
    const data = await this.read(name);
    return readJsonField(JSON.stringify(data), field, `vault secret "${name}"`);
  }

  private url(name: string): string {
    const parts = this.c.prefix ? this.c.prefix.split('/') : [];
    const segs = this.c.kv_version === 2
      ? (parts.length > 0 ? [parts[0], 'data', ...parts.slice(1), name] : [name.split('/')[0], 'data', ...name.split('/').slice(1)])
      : [...parts, name];
    return `${this.c.uri}/v1/${segs.map((s) => s.split('/').map(encodeURIComponent).join('/')).join('/')}`;
  }

  private async read(name: string): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { 'X-Vault-Token': this.c.token };
    if (this.c.namespace) headers['X-Vault-Namespace'] = this.c.namespace;
    const attempts = (this.c.retries ?? 1) + 1;
    const timeoutMs = (this.c.request_timeout ?? 3) * 1000;
    let last = '';
    for (let i = 0; i < attempts; i++) {
      let res: Response;
      try {
        res = await this.fetch(this.url(name), { headers, signal: AbortSignal.timeout(timeoutMs) });
      } catch (e) {
        last = `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? e}`;
        continue;
      }
      if (res.status === 404) {
        await res.body?.cancel();
        throw new SecretNotFoundError(`vault secret "${name}" does not exist`);
      }
      if (res.status >= 500) {
        await res.body?.cancel();
        last = `HTTP ${res.status}`;
        continue;
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`vault read of secret "${name}" failed: HTTP ${res.status}`);
      }
      let body: { data?: { data?: unknown } & Record<string, unknown> };
      try {
        body = (await res.json()) as typeof body;
      } catch {
        throw new Error(`vault read of secret "${name}" failed: the reply is not JSON`);
      }
      const data = this.c.kv_version === 2 ? body?.data?.data : body?.data;
      if (!data || typeof data !== 'object' || Array.isArray(data)) throw new SecretNotFoundError(`vault secret "${name}" has no data`);
      return data as Record<string, unknown>;
    }
    throw new Error(`vault read of secret "${name}" failed: ${last.slice(0, 200)}`);
  }
}

export function createVaultProvider(conf: unknown, opts?: VaultProviderOptions): SecretProvider {
  return new VaultSecretProvider(conf, opts);
}
