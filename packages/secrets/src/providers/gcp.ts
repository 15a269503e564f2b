import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { isPlainObject } from '@portico/core';
import { SecretNotFoundError } from '../errors';
import { readJsonField } from '../json-field';
import { parseSecretRef } from '../reference';
import type { SecretProvider } from '../provider';
import { readEnv } from './env';

export const GCP_DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';
export const GCP_DEFAULT_ENTRIES_URI = 'https://secretmanager.googleapis.com/v1/projects';
export const GCP_DEFAULT_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
export const GCP_JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** The service account as the provider uses it, from `auth_config` or the `auth_file` JSON. */
export interface GcpServiceAccount {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  project_id: string;
  token_uri: string;
  scope: string[];
  /** `<entries_uri>/<project>/secrets/<name>/versions/latest:access` (APISIX's setting) */
  entries_uri: string;
}

/** `/secrets/gcp/<id>` (SPEC §4), resolved. */
export interface GcpSecretConf {
  account: GcpServiceAccount;
  /** seconds per attempt (default 3) */
  request_timeout: number;
  /** retries after the first attempt, for network errors and 5xx (default 1) */
  retries: number;
}

export interface GcpProviderOptions {
  /** where `$env://` strings in the conf are read (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** fetch implementation (default global fetch) */
  fetch?: typeof fetch;
  /** wall clock in ms for JWT claims and token expiry (default Date.now) */
  now?: () => number;
  /** reads auth_file (default fs.readFileSync utf8) */
  readFile?: (path: string) => string;
}

/** A token is renewed this long before it expires (or at half its life, if that is sooner). */
const TOKEN_EARLY_RENEW_MS = 60_000;
/** GCP secret ids: letters, digits, `-` and `_`, up to 255. */
const SECRET_NAME = /^[A-Za-z0-9_-]{1,255}$/;

function httpUrl(v: unknown, key: string): string {
  if (typeof v !== 'string' || !/^https?:\/\//.test(v)) throw new Error(`gcp secret manager: ${key} must be an http(s) URL`);
  return v.replace(/\/+$/, '');
}

/**
 * Validates the conf: `auth_config` inline or `auth_file` (a path, possibly `$env://`) to a
 * service-account JSON key file; optional `endpoint` (the Secret Manager base URL, e.g. an
 * emulator). Errors name keys, never values (in particular never the private key).
 */
export function resolveGcpConf(conf: unknown, opts: GcpProviderOptions = {}): GcpSecretConf {
  if (!isPlainObject(conf)) throw new Error('gcp secret manager configuration must be an object');
  const env = opts.env ?? process.env;
  const hasConfig = conf.auth_config !== undefined;
  const hasFile = conf.auth_file !== undefined;
  if (hasConfig === hasFile) throw new Error('gcp secret manager: exactly one of auth_config and auth_file is required');

  let raw: Record<string, unknown>;
  let source: string;
  if (hasConfig) {
    if (!isPlainObject(conf.auth_config)) throw new Error('gcp secret manager: auth_config must be an object');
    raw = conf.auth_config;
    source = 'auth_config';
  } else {
    if (typeof conf.auth_file !== 'string' || conf.auth_file === '') throw new Error('gcp secret manager: auth_file must be a non-empty string');
    let file = conf.auth_file;
    const ref = parseSecretRef(file);
    if (ref?.kind === 'env') {
      try {
        file = readEnv(ref.name, ref.field, env);
      } catch (e) {
        throw new Error(`gcp secret manager: auth_file refers to ${ref.raw}: ${(e as Error).message}`);
      }
    }
    let text: string;
    try {
      text = (opts.readFile ?? ((p: string) => fs.readFileSync(p, 'utf8')))(file);
    } catch (e) {
      throw new Error(`gcp secret manager: auth_file ${file} cannot be read (${(e as NodeJS.ErrnoException)?.code ?? 'error'})`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // JSON.parse's message may quote the file (the private key): never pass it on.
      throw new Error(`gcp secret manager: auth_file ${file} is not JSON`);
    }
    if (!isPlainObject(parsed)) throw new Error(`gcp secret manager: auth_file ${file} is not a JSON object`);
    raw = parsed;
    source = 'auth_file';
  }

  const need = (key: string): string => {
    const v = raw[key];
    if (typeof v !== 'string' || v === '') throw new Error(`gcp secret manager: ${source} needs a non-empty string ${key}`);
    return v;
  };
  const client_email = need('client_email');
  const private_key = need('private_key');
  const project_id = need('project_id');
  try {
    crypto.createPrivateKey(private_key);
  } catch {
    throw new Error(`gcp secret manager: ${source}.private_key is not a PEM private key`);
  }
  const scope = raw.scope === undefined ? [GCP_DEFAULT_SCOPE] : raw.scope;
  if (!Array.isArray(scope) || scope.length === 0 || !scope.every((s) => typeof s === 'string' && s !== '')) {
    throw new Error(`gcp secret manager: ${source}.scope must be a non-empty array of strings`);
  }
  const token_uri = raw.token_uri === undefined ? GCP_DEFAULT_TOKEN_URI : httpUrl(raw.token_uri, `${source}.token_uri`);
  let entries_uri = raw.entries_uri === undefined ? GCP_DEFAULT_ENTRIES_URI : httpUrl(raw.entries_uri, `${source}.entries_uri`);
  if (conf.endpoint !== undefined) entries_uri = `${httpUrl(conf.endpoint, 'endpoint')}/v1/projects`;

  const num = (key: string, dflt: number): number => {
    const v = conf[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`gcp secret manager: ${key} must be a non-negative number`);
    return v;
  };
  return {
    account: {
      client_email,
      private_key,
      private_key_id: typeof raw.private_key_id === 'string' ? raw.private_key_id : undefined,
      project_id,
      token_uri,
      scope: scope as string[],
      entries_uri,
    },
    request_timeout: num('request_timeout', 3),
    retries: num('retries', 1),
  };
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The RS256-signed JWT a service account presents to token_uri (RFC 7523). */
export function signServiceAccountAssertion(account: GcpServiceAccount, key: KeyObject, nowMs: number): string {
  const iat = Math.floor(nowMs / 1000);
  const header = { alg: 'RS256', typ: 'JWT', ...(account.private_key_id ? { kid: account.private_key_id } : {}) };
  const claims = { iss: account.client_email, scope: account.scope.join(' '), aud: account.token_uri, iat, exp: iat + 3600 };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = crypto.sign('RSA-SHA256', Buffer.from(input), key);
  return `${input}.${b64url(signature)}`;
}

interface Token {
  value: string;
  renewAt: number;
}

/** Thrown for a rejected bearer token, so the read can retry once with a fresh one. */
class TokenRejected extends Error {}

/**
 * GCP Secret Manager (APISIX `secret/gcp.lua`): a reference `$secret://gcp/<id>/<name>[/<field>]`
 * reads the latest version of secret `<name>` in the service account's project and returns its
 * payload, or `<field>` of it parsed as JSON. Authentication is the OAuth 2.0 JWT bearer grant:
 * an RS256 assertion signed with the service account key is exchanged at token_uri for an
 * access token, cached until shortly before it expires and shared by concurrent reads.
 */
export class GcpSecretProvider implements SecretProvider {
  private readonly c: GcpSecretConf;
  private readonly key: KeyObject;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private token?: Token;
  private tokenInflight?: Promise<string>;

  constructor(conf: unknown, opts: GcpProviderOptions = {}) {
    this.c = resolveGcpConf(conf, opts);
    this.key = crypto.createPrivateKey(this.c.account.private_key);
    this.fetch = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
  }

  async get(path: string): Promise<string> {
    const slash = path.indexOf('/');
    const name = slash < 0 ? path : path.slice(0, slash);
    const field = slash < 0 ? undefined : path.slice(slash + 1);
    if (!SECRET_NAME.test(name)) throw new SecretNotFoundError(`gcp secret "${name}" is not a valid secret name`);
    if (field === '') throw new SecretNotFoundError(`gcp reference path "${path}" has an empty field`);
    const value = await this.access(name);
    return field === undefined ? value : readJsonField(value, field, `gcp secret "${name}"`);
  }

  private async access(name: string): Promise<string> {
    try {
      return await this.accessWith(name, await this.accessToken());
    } catch (e) {
      if (!(e instanceof TokenRejected)) throw e;
      // Revoked or expired early: one more try with a fresh token.
      this.token = undefined;
      try {
        return await this.accessWith(name, await this.accessToken());
      } catch (e2) {
        if (e2 instanceof TokenRejected) throw new Error(e2.message);
        throw e2;
      }
    }
  }

  /** A cached access token, or a new one (one token request for all concurrent callers). */
  private accessToken(): Promise<string> {
    if (this.token && this.now() < this.token.renewAt) return Promise.resolve(this.token.value);
    this.tokenInflight ??= this.requestToken().finally(() => {
      this.tokenInflight = undefined;
    });
    return this.tokenInflight;
  }

  private async requestToken(): Promise<string> {
    const a = this.c.account;
    const started = this.now();
    const body = new URLSearchParams({ grant_type: GCP_JWT_BEARER_GRANT, assertion: signServiceAccountAssertion(a, this.key, started) });
    const res = await this.send(a.token_uri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
    }, 'token request');
    if (res.status !== 200) {
      // The OAuth error code ("invalid_grant") says why without echoing anything secret.
      let code = '';
      try {
        const j = (await res.json()) as { error?: unknown };
        if (typeof j?.error === 'string') code = `, ${j.error.slice(0, 60)}`;
      } catch {
        /* not JSON */
      }
      throw new Error(`gcp token request for ${a.client_email} failed: HTTP ${res.status}${code}`);
    }
    let j: { access_token?: unknown; expires_in?: unknown };
    try {
      j = (await res.json()) as typeof j;
    } catch {
      throw new Error(`gcp token request for ${a.client_email} failed: the reply is not JSON`);
    }
    if (typeof j.access_token !== 'string' || j.access_token === '') throw new Error(`gcp token request for ${a.client_email} failed: no access_token in the reply`);
    const lifeMs = (typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : 3600) * 1000;
    this.token = { value: j.access_token, renewAt: started + lifeMs - Math.min(TOKEN_EARLY_RENEW_MS, lifeMs / 2) };
    return j.access_token;
  }

  private async accessWith(name: string, token: string): Promise<string> {
    const a = this.c.account;
    const url = `${a.entries_uri}/${encodeURIComponent(a.project_id)}/secrets/${encodeURIComponent(name)}/versions/latest:access`;
    const res = await this.send(url, { headers: { authorization: `Bearer ${token}` } }, `read of secret "${name}"`);
    if (res.status === 404) {
      await res.body?.cancel();
      throw new SecretNotFoundError(`gcp secret "${name}" does not exist or has no enabled version`);
    }
    if (res.status === 401) {
      await res.body?.cancel();
      throw new TokenRejected(`gcp read of secret "${name}" failed: HTTP 401`);
    }
    if (res.status !== 200) {
      let status = '';
      try {
        const j = (await res.json()) as { error?: { status?: unknown } };
        if (typeof j?.error?.status === 'string') status = ` ${j.error.status.slice(0, 40)}`;
      } catch {
        /* not JSON */
      }
      throw new Error(`gcp read of secret "${name}" failed: HTTP ${res.status}${status}`);
    }
    let j: { payload?: { data?: unknown } };
    try {
      j = (await res.json()) as typeof j;
    } catch {
      throw new Error(`gcp read of secret "${name}" failed: the reply is not JSON`);
    }
    const data = j?.payload?.data;
    if (typeof data !== 'string') throw new Error(`gcp read of secret "${name}" failed: the reply has no payload`);
    return Buffer.from(data, 'base64').toString('utf8');
  }

  /** One request with retries on network errors and 5xx; the last response otherwise. */
  private async send(url: string, init: RequestInit, what: string): Promise<Response> {
    const attempts = this.c.retries + 1;
    const timeoutMs = this.c.request_timeout * 1000;
    let last = '';
    for (let i = 0; i < attempts; i++) {
      let res: Response;
      try {
        res = await this.fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
      } catch (e) {
        last = `${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? e}`;
        continue;
      }
      if (res.status >= 500) {
        await res.body?.cancel();
        last = `HTTP ${res.status}`;
        continue;
      }
      return res;
    }
    throw new Error(`gcp ${what} failed: ${last.slice(0, 200)}`);
  }
}

export function createGcpProvider(conf: unknown, opts?: GcpProviderOptions): SecretProvider {
  return new GcpSecretProvider(conf, opts);
}
