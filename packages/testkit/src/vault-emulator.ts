import { closeServer, listenOnLoopback } from './listen';
import { registerSecretValue } from './log-capture';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * A HashiCorp Vault emulator for the KV secrets engines, speaking Vault's HTTP API:
 * `GET /v1/<mount>/<path>` (KV v1) and `GET /v1/<mount>/data/<path>` (KV v2, `?version=N`),
 * `X-Vault-Token` auth, `X-Vault-Namespace` when a namespace is set, Vault's error shape
 * (`{"errors": [...]}`; 403 permission denied, 404 not found). Writes go through the test API.
 */

export interface VaultEmulatorOptions {
  /** accepted tokens */
  tokens: string[];
  /** mounts by path (no slashes at the ends) and KV version */
  mounts: Record<string, 1 | 2>;
  /** when set, requests must carry this X-Vault-Namespace */
  namespace?: string;
}

export interface VaultEmulator {
  endpoint: string;
  port: number;
  /** Writes a secret (a new version on KV v2). `path` is below the mount. */
  put(mount: string, path: string, data: Record<string, unknown>): void;
  remove(mount: string, path: string): void;
  /** Requests received since the last reset, total and by path below /v1/. */
  readonly calls: { total: number; byPath: Record<string, number> };
  resetCalls(): void;
  /** 'sealed': 503 for every request; 'outage': reset sockets; null: normal */
  injectError(kind: 'sealed' | 'outage' | null): void;
  close(): Promise<void>;
}

interface Kv2Secret {
  versions: Array<{ data: Record<string, unknown>; created: string }>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startVaultEmulator(opts: VaultEmulatorOptions): Promise<VaultEmulator> {
  const kv1 = new Map<string, Map<string, Record<string, unknown>>>();
  const kv2 = new Map<string, Map<string, Kv2Secret>>();
  for (const [mount, version] of Object.entries(opts.mounts)) {
    if (version === 1) kv1.set(mount, new Map());
    else kv2.set(mount, new Map());
  }
  let calls = { total: 0, byPath: {} as Record<string, number> };
  let injected: 'sealed' | 'outage' | null = null;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://vault');
    const full = decodeURIComponent(url.pathname);
    calls.total++;
    calls.byPath[full] = (calls.byPath[full] ?? 0) + 1;
    if (injected === 'outage') {
      req.socket.destroy();
      return;
    }
    if (injected === 'sealed') return send(res, 503, { errors: ['Vault is sealed'] });
    if (req.method !== 'GET') return send(res, 405, { errors: ['unsupported operation'] });
    const token = req.headers['x-vault-token'];
    if (typeof token !== 'string' || !opts.tokens.includes(token)) return send(res, 403, { errors: ['permission denied'] });
    if (opts.namespace !== undefined && req.headers['x-vault-namespace'] !== opts.namespace) {
      return send(res, 403, { errors: ['permission denied'] });
    }
    if (!full.startsWith('/v1/')) return send(res, 404, { errors: [] });
    const rest = full.slice(4).replace(/\/+$/, '');
    for (const [mount, secrets] of kv1) {
      if (!rest.startsWith(`${mount}/`)) continue;
      const data = secrets.get(rest.slice(mount.length + 1));
      if (!data) return send(res, 404, { errors: [] });
      return send(res, 200, { request_id: 'r', lease_id: '', renewable: false, lease_duration: 2764800, data, wrap_info: null, warnings: null, auth: null });
    }
    for (const [mount, secrets] of kv2) {
      if (!rest.startsWith(`${mount}/data/`)) continue;
      const secret = secrets.get(rest.slice(mount.length + 6));
      const wanted = url.searchParams.get('version');
      const n = wanted ? Number(wanted) : secret?.versions.length ?? 0;
      const version = secret?.versions[n - 1];
      if (!version) return send(res, 404, { errors: [] });
      return send(res, 200, {
        request_id: 'r', lease_id: '', renewable: false, lease_duration: 0,
        data: { data: version.data, metadata: { created_time: version.created, deletion_time: '', destroyed: false, version: n } },
        wrap_info: null, warnings: null, auth: null,
      });
    }
    return send(res, 404, { errors: [`no handler for route "${rest}". route entry not found.`] });
  }

  const server = http.createServer(handle);
  const port = await listenOnLoopback(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    put(mount, path, data) {
      for (const [field, v] of Object.entries(data)) if (typeof v === 'string') registerSecretValue(v, `vault:${mount}/${path}/${field}`);
      const v1 = kv1.get(mount);
      if (v1) return void v1.set(path, data);
      const v2 = kv2.get(mount);
      if (!v2) throw new Error(`no mount ${mount}`);
      const s = v2.get(path) ?? { versions: [] };
      s.versions.push({ data, created: new Date().toISOString() });
      v2.set(path, s);
    },
    remove(mount, path) {
      kv1.get(mount)?.delete(path);
      kv2.get(mount)?.delete(path);
    },
    get calls() {
      return { total: calls.total, byPath: { ...calls.byPath } };
    },
    resetCalls() {
      calls = { total: 0, byPath: {} };
    },
    injectError(kind) {
      injected = kind;
    },
    close: () => closeServer(server),
  };
}
