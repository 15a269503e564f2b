import { closeServer, listenOnLoopback } from './listen';
import { registerSecretValue } from './log-capture';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { AwsSecretsStore, AwsServiceError } from './aws-secrets-store';
import { verifySigV4, type AwsCredential, type AwsErrorReply } from './aws-sigv4-verify';

/**
 * An AWS Secrets Manager emulator that speaks the real wire protocol (awsJson1_1 over HTTP,
 * SigV4-signed), so the real @aws-sdk/client-secrets-manager can be pointed at it with
 * `endpoint`. Tests use the extra API (putSecret, call counters, fault injection) to set up
 * secrets and observe how many calls the code under test really makes.
 */

export type { AwsCredential } from './aws-sigv4-verify';

export interface AwsSecretsEmulatorOptions {
  credentials: AwsCredential[];
  /** Region requests must be scoped to (default us-east-1). */
  region?: string;
}

export type AwsInjectedError = 'throttle' | '500' | 'outage';

export interface AwsCallCounts {
  total: number;
  /** by operation name, e.g. `GetSecretValue` */
  byTarget: Record<string, number>;
}

export interface AwsSecretsEmulator {
  endpoint: string;
  port: number;
  region: string;
  /** Creates the secret, or adds a new version that becomes AWSCURRENT. Returns the VersionId. */
  putSecret(name: string, value: string | object): string;
  /** Removes the secret at once (no recovery window). */
  deleteSecret(name: string): void;
  /** Every request received (also the rejected and fault-injected ones), since the last reset. */
  readonly calls: AwsCallCounts;
  /** Requests whose SecretId (or Name) designated this secret, since the last reset. */
  callsFor(name: string): number;
  resetCalls(): void;
  /** Delay every answer by ms (0 to stop). */
  injectLatency(ms: number): void;
  /** Fail every request until cleared with null: 400 ThrottlingException, 500, or a reset socket. */
  injectError(kind: AwsInjectedError | null): void;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'secretsmanager.';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const MAX_BODY = 1024 * 1024;

const INJECTED: Record<Exclude<AwsInjectedError, 'outage'>, AwsErrorReply> = {
  throttle: { status: 400, type: 'ThrottlingException', message: 'Rate exceeded' },
  500: { status: 500, type: 'InternalServiceError', message: 'An error occurred on the server side.' },
};

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size <= MAX_BODY ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, e: AwsErrorReply): void {
  send(res, e.status, { __type: e.type, message: e.message }, { 'x-amzn-errortype': e.type });
}

export async function startAwsSecretsEmulator(opts: AwsSecretsEmulatorOptions): Promise<AwsSecretsEmulator> {
  const region = opts.region ?? 'us-east-1';
  const store = new AwsSecretsStore(region);
  let calls: AwsCallCounts = { total: 0, byTarget: {} };
  let perSecret = new Map<string, number>();
  let latencyMs = 0;
  let injected: AwsInjectedError | null = null;
  const timers = new Set<NodeJS.Timeout>();

  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    GetSecretValue: (i) => store.getSecretValue(i),
    CreateSecret: (i) => store.createSecret(i),
    PutSecretValue: (i) => store.putSecretValue(i),
    DeleteSecret: (i) => store.deleteSecret(i),
    UpdateSecretVersionStage: (i) => store.updateSecretVersionStage(i),
  };

  function count(operation: string, input: Record<string, unknown> | undefined): void {
    calls.total++;
    calls.byTarget[operation] = (calls.byTarget[operation] ?? 0) + 1;
    const id = input?.SecretId ?? input?.Name;
    if (typeof id === 'string') {
      const name = store.nameOf(id) ?? id;
      perSecret.set(name, (perSecret.get(name) ?? 0) + 1);
    }
  }

  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;
    let input: Record<string, unknown> | undefined;
    try {
      const parsed: unknown = JSON.parse(body?.toString('utf8') || '{}');
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) input = parsed as Record<string, unknown>;
    } catch {
      input = undefined;
    }
    count(operation || '(none)', input);

    if (latencyMs > 0) await delay(latencyMs);
    if (injected === 'outage') {
      req.socket.destroy();
      return;
    }
    if (injected) return sendError(res, INJECTED[injected]);

    if (body === undefined) return sendError(res, { status: 413, type: 'RequestEntityTooLargeException', message: 'Request is too large.' });
    const authError = await verifySigV4(
      { method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body },
      { credentials: opts.credentials, region, service: 'secretsmanager' },
    );
    if (authError) return sendError(res, authError);

    const op = req.method === 'POST' && target.startsWith(TARGET_PREFIX) ? operations[operation] : undefined;
    if (!op) return sendError(res, { status: 400, type: 'UnknownOperationException', message: '' });
    if (!String(req.headers['content-type'] ?? '').startsWith(CONTENT_TYPE) || !input) {
      return sendError(res, { status: 400, type: 'SerializationException', message: 'Start of structure or map found where not expected.' });
    }
    try {
      send(res, 200, op(input));
    } catch (e) {
      if (!(e instanceof AwsServiceError)) throw e;
      sendError(res, { status: e.status, type: e.type, message: e.message });
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        sendError(res, { status: 500, type: 'InternalServiceError', message: String((e as Error)?.message ?? e) });
      }
    });
  });
  const port = await listenOnLoopback(server);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    region,
    putSecret(name, value) {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      // Every value a test stores is a secret the whole-run log scan must never find.
      registerSecretValue(text, `aws:${name}`);
      if (typeof value === 'object' && value !== null) {
        for (const [field, v] of Object.entries(value)) if (typeof v === 'string') registerSecretValue(v, `aws:${name}/${field}`);
      }
      if (store.nameOf(name) === undefined) {
        return String(store.createSecret({ Name: name, SecretString: text }).VersionId);
      }
      return String(store.putSecretValue({ SecretId: name, SecretString: text }).VersionId);
    },
    deleteSecret(name) {
      store.remove(name);
    },
    get calls() {
      return { total: calls.total, byTarget: { ...calls.byTarget } };
    },
    callsFor(name) {
      return perSecret.get(name) ?? 0;
    },
    resetCalls() {
      calls = { total: 0, byTarget: {} };
      perSecret = new Map();
    },
    injectLatency(ms) {
      latencyMs = ms;
    },
    injectError(kind) {
      injected = kind;
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return closeServer(server);
    },
  };
}
