import { closeServer, listenOnLoopback } from './listen';
import crypto, { type KeyObject } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { registerSecretValue } from './log-capture';

/**
 * A GCP Secret Manager emulator speaking the real HTTP API:
 *   - `POST /token`: the OAuth 2.0 JWT bearer grant (RFC 7523) as Google's token endpoint does
 *     it: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`; the JWT's
 *     RS256 signature is verified with the service account's public key and its claims
 *     checked (iss a known account, aud = this token_uri, scope, iat/exp within an hour);
 *     replies `{access_token, expires_in, token_type}` or 400 `{error: "invalid_grant"}`.
 *   - `GET /v1/projects/<p>/secrets/<s>/versions/<latest|n>:access` with `Authorization: Bearer`:
 *     `{name, payload: {data: <base64>, dataCrc32c}}`; Google's error shape
 *     `{"error": {"code", "message", "status"}}`: 401 UNAUTHENTICATED for a missing, unknown or
 *     expired token, 403 PERMISSION_DENIED for an account without access to the project,
 *     404 NOT_FOUND for a missing secret or version.
 * Tests use the extra API (putSecret, counters, fault injection) to set up and observe.
 */

export interface GcpServiceAccountKey {
  client_email: string;
  /** PEM (SPKI) or KeyObject */
  public_key: string | KeyObject;
  /** projects this account may read (default: the emulator's default project) */
  projects?: string[];
}

export interface GcpSecretEmulatorOptions {
  serviceAccounts: GcpServiceAccountKey[];
  /** the project putSecret uses when none is given (default 'portico-test') */
  project?: string;
  /** lifetime of issued tokens in seconds (default 3600) */
  tokenTtlSeconds?: number;
  /** wall clock in ms for JWT claim checks and token expiry (default Date.now) */
  now?: () => number;
}

export type GcpInjectedError = '500' | '503' | 'outage';

export interface GcpCallCounts {
  total: number;
  token: number;
  access: number;
  /** access requests by secret name */
  bySecret: Record<string, number>;
}

export interface GcpSecretEmulator {
  /** Secret Manager base URL (the provider's `endpoint`) */
  endpoint: string;
  /** the OAuth token endpoint (a service account's `token_uri`) */
  tokenUri: string;
  port: number;
  /** Adds a version (objects are stored as JSON); it becomes latest. Returns the version number. */
  putSecret(name: string, value: string | object, project?: string): number;
  /** Disables a version (latest then is the newest enabled one). */
  disableVersion(name: string, version: number, project?: string): void;
  deleteSecret(name: string, project?: string): void;
  /** Invalidates every issued token (the next access with one is 401). */
  revokeTokens(): void;
  readonly calls: GcpCallCounts;
  callsFor(name: string): number;
  resetCalls(): void;
  injectLatency(ms: number): void;
  /** '500'/'503': every request fails so; 'outage': sockets are reset; null: normal */
  injectError(kind: GcpInjectedError | null): void;
  close(): Promise<void>;
}

interface Version {
  data: Buffer;
  enabled: boolean;
}

const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const STATUS: Record<number, string> = { 400: 'FAILED_PRECONDITION', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 500: 'INTERNAL', 503: 'UNAVAILABLE' };

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function googleError(res: ServerResponse, code: number, message: string): void {
  send(res, code, { error: { code, message, status: STATUS[code] ?? 'UNKNOWN' } });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** CRC32C (Castagnoli), as Secret Manager reports in payload.dataCrc32c. */
function crc32c(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

export async function startGcpSecretEmulator(opts: GcpSecretEmulatorOptions): Promise<GcpSecretEmulator> {
  const defaultProject = opts.project ?? 'portico-test';
  const ttl = opts.tokenTtlSeconds ?? 3600;
  const accounts = new Map<string, { key: KeyObject; projects: string[] }>();
  for (const a of opts.serviceAccounts) {
    const key = typeof a.public_key === 'string' ? crypto.createPublicKey(a.public_key) : a.public_key;
    accounts.set(a.client_email, { key, projects: a.projects ?? [defaultProject] });
  }
  const secrets = new Map<string, Version[]>(); // `<project>/<name>`
  const tokens = new Map<string, { email: string; expiresAt: number }>();
  let calls: GcpCallCounts = { total: 0, token: 0, access: 0, bySecret: {} };
  let latencyMs = 0;
  let injected: GcpInjectedError | null = null;
  let tokenUri = '';
  const now = opts.now ?? Date.now;
  const sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  const sleep = (ms: number) => new Promise<void>((wake) => {
    const entry = { timer: setTimeout(() => { sleeping.delete(entry); wake(); }, ms), wake };
    sleeping.add(entry);
  });

  function issueToken(body: string, res: ServerResponse): void {
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== GRANT) return send(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type.' });
    const invalid = (why: string) => send(res, 400, { error: 'invalid_grant', error_description: why });
    const parts = (form.get('assertion') ?? '').split('.');
    if (parts.length !== 3) return invalid('Invalid JWT.');
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return invalid('Invalid JWT.');
    }
    if (header.alg !== 'RS256') return invalid('Invalid JWT: unsupported algorithm.');
    const account = typeof claims.iss === 'string' ? accounts.get(claims.iss) : undefined;
    if (!account) return invalid('Invalid JWT: unknown issuer.');
    const signed = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), account.key, Buffer.from(parts[2], 'base64url'));
    if (!signed) return invalid('Invalid JWT Signature.');
    if (claims.aud !== tokenUri) return invalid('Invalid JWT: Failed audience check.');
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
    if (!scopes.includes(CLOUD_PLATFORM)) return invalid('Invalid JWT: scope does not grant Secret Manager access.');
    const nowS = Math.floor(now() / 1000);
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || typeof exp !== 'number') return invalid('Invalid JWT: iat and exp are required.');
    if (exp <= nowS) return invalid('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    if (iat > nowS + 300 || exp - iat > 3600 || exp < iat) {
      return invalid('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    const token = `ya29.emu-${crypto.randomBytes(24).toString('base64url')}`;
    tokens.set(token, { email: claims.iss as string, expiresAt: now() + ttl * 1000 });
    send(res, 200, { access_token: token, expires_in: ttl, token_type: 'Bearer' });
  }

  function access(req: IncomingMessage, res: ServerResponse, project: string, name: string, version: string): void {
    calls.bySecret[name] = (calls.bySecret[name] ?? 0) + 1;
    const auth = req.headers.authorization ?? '';
    const bearer = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const t = tokens.get(bearer);
    if (!t || t.expiresAt <= now()) {
      return googleError(res, 401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    }
    if (!accounts.get(t.email)?.projects.includes(project)) {
      return googleError(res, 403, `Permission 'secretmanager.versions.access' denied for resource 'projects/${project}/secrets/${name}/versions/${version}' (or it may not exist).`);
    }
    const versions = secrets.get(`${project}/${name}`);
    if (!versions || versions.length === 0) return googleError(res, 404, `Secret [projects/${project}/secrets/${name}] not found or has no versions.`);
    let n: number;
    if (version === 'latest') {
      n = versions.length;
      while (n > 0 && !versions[n - 1].enabled) n--;
      if (n === 0) return googleError(res, 404, `Secret [projects/${project}/secrets/${name}] not found or has no versions.`);
    } else {
      n = Number(version);
      if (!Number.isInteger(n) || !versions[n - 1]) return googleError(res, 404, `Secret Version [projects/${project}/secrets/${name}/versions/${version}] not found.`);
      if (!versions[n - 1].enabled) return googleError(res, 400, 'Secret Version is in DISABLED state.');
    }
    const data = versions[n - 1].data;
    send(res, 200, {
      name: `projects/${project}/secrets/${name}/versions/${n}`,
      payload: { data: data.toString('base64'), dataCrc32c: String(crc32c(data)) },
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gcp');
    calls.total++;
    const isToken = url.pathname === '/token';
    if (isToken) calls.token++;
    const m = /^\/v1\/projects\/([^/]+)\/secrets\/([^/]+)\/versions\/([^/:]+):access$/.exec(url.pathname);
    if (m) calls.access++;
    const body = await readBody(req);
    if (latencyMs > 0) await sleep(latencyMs);
    if (injected === 'outage') {
      req.socket.destroy();
      return;
    }
    if (injected === '500') return googleError(res, 500, 'Internal error encountered.');
    if (injected === '503') return googleError(res, 503, 'The service is currently unavailable.');
    if (isToken) {
      if (req.method !== 'POST') return send(res, 405, { error: 'invalid_request' });
      return issueToken(body, res);
    }
    if (m && req.method === 'GET') return access(req, res, decodeURIComponent(m[1]), decodeURIComponent(m[2]), m[3]);
    return googleError(res, 404, `The requested URL ${url.pathname} was not found on this server.`);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) googleError(res, 500, 'Internal error encountered.');
      else res.destroy();
    });
  });
  const port = await listenOnLoopback(server);
  const endpoint = `http://127.0.0.1:${port}`;
  tokenUri = `${endpoint}/token`;
  const key = (name: string, project?: string) => `${project ?? defaultProject}/${name}`;

  return {
    endpoint,
    tokenUri,
    port,
    putSecret(name, value, project) {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      registerSecretValue(text, `gcp:${name}`);
      if (typeof value === 'object' && value !== null) {
        for (const [field, v] of Object.entries(value)) if (typeof v === 'string') registerSecretValue(v, `gcp:${name}/${field}`);
      }
      const versions = secrets.get(key(name, project)) ?? [];
      versions.push({ data: Buffer.from(text, 'utf8'), enabled: true });
      secrets.set(key(name, project), versions);
      return versions.length;
    },
    disableVersion(name, version, project) {
      const v = secrets.get(key(name, project))?.[version - 1];
      if (!v) throw new Error(`no version ${version} of ${name}`);
      v.enabled = false;
    },
    deleteSecret(name, project) {
      secrets.delete(key(name, project));
    },
    revokeTokens() {
      tokens.clear();
    },
    get calls() {
      return { ...calls, bySecret: { ...calls.bySecret } };
    },
    callsFor(name) {
      return calls.bySecret[name] ?? 0;
    },
    resetCalls() {
      calls = { total: 0, token: 0, access: 0, bySecret: {} };
    },
    injectLatency(ms) {
      latencyMs = ms;
    },
    injectError(kind) {
      injected = kind;
    },
    close: () => {
      for (const s of sleeping) {
        clearTimeout(s.timer);
        s.wake();
      }
      sleeping.clear();
      return closeServer(server);
    },
  };
}
