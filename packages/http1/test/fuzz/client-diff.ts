import net from 'node:net';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { Client, type Dispatcher } from 'undici';
import { H1Pool, type UpstreamHandler } from '../../src';
import { FUZZ_CLIENT_MAX_HEADER_SIZE, upstreamCase, type UpstreamCase } from './upstream-responses';
import { inParallel } from './server-diff';

/**
 * The differential harness of the upstream client: a raw TCP node serves each case's bytes
 * (upstream-responses.ts) to Portico's own client (h1/pool.ts) and to undici, configured alike
 * (pipelining 1, same head size limit and timeouts), and the outcomes must agree: status,
 * reason, headers and body, or a failure of the same class.
 */
export interface ClientOutcome {
  status?: number;
  statusMessage?: string;
  headers?: string[];
  body: string;
  /** The failure's class (timeout / failed) and code, when the request failed. */
  error?: { kind: 'timeout' | 'failed'; code: string };
}

/**
 * How long a client waits for a head or for body bytes before it fails the request, ms: short
 * in the first run, long in the confirming one (a loaded machine can make a client late).
 */
const CLIENT_TIMEOUT_MS = 1500;
const CONFIRM_TIMEOUT_MS = 20_000;
const REQUEST_BODY = 'hello';

/** The raw node: answers the request for `/c/<id>` with case `id`'s bytes. */
export class RawUpstream {
  port = 0;
  private readonly server: net.Server;
  private readonly cases = new Map<number, UpstreamCase>();
  private readonly sockets = new Set<net.Socket>();
  private nextId = 1;

  constructor() {
    this.server = net.createServer((sock) => this.serve(sock));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  add(c: UpstreamCase): number {
    const id = this.nextId++;
    this.cases.set(id, c);
    return id;
  }

  remove(id: number): void {
    this.cases.delete(id);
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    let started = false;
    sock.on('data', (d: Buffer) => {
      if (started) return;
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      started = true;
      const id = Number(/^[A-Z]+ \/c\/(\d+) /.exec(head)?.[1]);
      const c = this.cases.get(id);
      if (!c) return void sock.destroy();
      void this.play(sock, c);
    });
  }

  private async play(sock: net.Socket, c: UpstreamCase): Promise<void> {
    for (const w of c.writes) {
      if (sock.destroyed) return;
      sock.write(Buffer.from(w, 'latin1'));
      // a turn of the loop, so that each write reaches the client as a read of its own
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    }
    if (sock.destroyed) return;
    if (c.after === 'close') sock.end();
    else if (c.after === 'reset') sock.resetAndDestroy();
  }
}

function errorOf(err: Error & { code?: string }): ClientOutcome['error'] {
  const code = err.code ?? err.name;
  return { kind: /TIMEOUT/.test(code) ? 'timeout' : 'failed', code };
}

/** A handler (undici's legacy dispatch interface, which both clients drive) that records the outcome. */
function recorder(resolve: (o: ClientOutcome) => void): UpstreamHandler {
  const out: ClientOutcome = { body: '' };
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    resolve(out);
  };
  return {
    onConnect: () => undefined,
    onHeaders: (status, raw, _resume, message) => {
      out.status = status;
      out.statusMessage = message;
      out.headers = raw.map((h) => (typeof h === 'string' ? h : Buffer.from(h).toString('latin1')));
      return true;
    },
    onData: (chunk) => {
      out.body += Buffer.from(chunk).toString('latin1');
      return true;
    },
    onComplete: () => finish(),
    onError: (err) => {
      out.error = errorOf(err);
      finish();
    },
  };
}

function requestOf(c: UpstreamCase, id: number) {
  return {
    path: `/c/${id}`,
    method: c.method,
    headers: c.method === 'POST' ? ['host', 'upstream.test', 'content-length', String(REQUEST_BODY.length)] : ['host', 'upstream.test'],
    body: c.method === 'POST' ? Readable.from([Buffer.from(REQUEST_BODY)]) : null,
  };
}

export async function runOwn(node: RawUpstream, c: UpstreamCase, timeout = CLIENT_TIMEOUT_MS): Promise<ClientOutcome> {
  const id = node.add(c);
  const pool = new H1Pool(`http://127.0.0.1:${node.port}`, { idleMs: 10_000, maxRequests: 100, maxHeaderSize: FUZZ_CLIENT_MAX_HEADER_SIZE });
  try {
    return await new Promise<ClientOutcome>((resolve) => {
      pool.dispatch({ ...requestOf(c, id), headersTimeout: timeout, bodyTimeout: timeout }, recorder(resolve));
    });
  } finally {
    node.remove(id);
    await pool.destroy();
  }
}

export async function runUndici(node: RawUpstream, c: UpstreamCase, timeout = CLIENT_TIMEOUT_MS): Promise<ClientOutcome> {
  const id = node.add(c);
  const client = new Client(`http://127.0.0.1:${node.port}`, {
    pipelining: 1, maxHeaderSize: FUZZ_CLIENT_MAX_HEADER_SIZE, headersTimeout: timeout, bodyTimeout: timeout,
  });
  try {
    return await new Promise<ClientOutcome>((resolve) => {
      const r = requestOf(c, id);
      client.dispatch({ ...r, body: r.body ?? undefined } as Dispatcher.DispatchOptions, recorder(resolve) as unknown as Dispatcher.DispatchHandler);
    });
  } finally {
    node.remove(id);
    await client.destroy().catch(() => undefined);
  }
}

export function compareOutcomes(own: ClientOutcome, undici: ClientOutcome): string[] {
  const diffs: string[] = [];
  if (!!own.error !== !!undici.error || (own.error && undici.error && own.error.kind !== undici.error.kind)) {
    diffs.push(`outcome: own ${own.error ? `${own.error.kind} ${own.error.code}` : `ok ${own.status}`}, ` +
      `undici ${undici.error ? `${undici.error.kind} ${undici.error.code}` : `ok ${undici.status}`}`);
    return diffs;
  }
  if (own.error) return diffs;
  if (own.status !== undici.status) diffs.push(`status: own ${own.status}, undici ${undici.status}`);
  if (own.statusMessage !== undici.statusMessage) diffs.push(`reason: own ${JSON.stringify(own.statusMessage)}, undici ${JSON.stringify(undici.statusMessage)}`);
  if (JSON.stringify(own.headers) !== JSON.stringify(undici.headers)) diffs.push(`headers: own ${JSON.stringify(own.headers)}, undici ${JSON.stringify(undici.headers)}`);
  if (own.body !== undici.body) diffs.push(`body: own ${JSON.stringify(own.body)}, undici ${JSON.stringify(undici.body)}`);
  return diffs;
}

/** A difference between the clients that is deliberate (docs/http.md). */
export interface KnownClientDifference {
  name: string;
  why: string;
  matches(c: UpstreamCase, own: ClientOutcome, undici: ClientOutcome): boolean;
}

/** The response bytes up to the end of its (last) head. */
const headOf = (c: UpstreamCase): string => {
  const all = c.writes.join('');
  const end = all.indexOf('\r\n\r\n');
  return end < 0 ? all : all.slice(0, end + 4);
};
const sameBut = (own: ClientOutcome, undici: ClientOutcome, field: keyof ClientOutcome): boolean =>
  !own.error && !undici.error && (['status', 'statusMessage', 'headers', 'body'] as const)
    .every((k) => k === field || JSON.stringify(own[k]) === JSON.stringify(undici[k]));

export const CLIENT_DIFFERENCES: KnownClientDifference[] = [
  {
    name: 'trailing-whitespace-trimmed',
    why: 'Header values lose trailing spaces and tabs (RFC 9110 §5.5: they are not part of the value), as node:http gives them; undici keeps them.',
    matches: (_c, own, undici) => sameBut(own, undici, 'headers')
      && JSON.stringify(undici.headers?.map((h, i) => (i % 2 === 1 ? h.replace(/[ \t]+$/, '') : h))) === JSON.stringify(own.headers),
  },
  {
    name: 'reason-latin1',
    why: 'A reason phrase with bytes above 0x7f is kept as latin-1, as node:http does; undici decodes it as UTF-8 (replacement characters).',
    matches: (c, own, undici) => sameBut(own, undici, 'statusMessage') && /(?:^|\n)HTTP\/[^\r\n]*[\x80-\xff]/.test(c.writes.join('')),
  },
  {
    name: 'informational-skipped',
    why: 'A 1xx before the answer (100 Continue, 103 Early Hints) is skipped, as RFC 9110 §15.2 asks of every client and node:http does; ' +
      'undici fails a request without Expect that gets one.',
    matches: (c, own, undici) => undici.error?.code === 'UND_ERR_SOCKET' && own.error?.code !== 'UND_ERR_SOCKET'
      && /^HTTP\/1\.1 10[03] /.test(c.writes.join('')),
  },
  {
    name: 'no-body-status',
    why: 'A 204 or 304 has no body whatever its Content-Length says (RFC 9110 §6.4.1), as llhttp frames it; undici waits for that many bytes ' +
      'and fails when the connection ends first.',
    matches: (_c, own, undici) => !own.error && (own.status === 204 || own.status === 304) && undici.error?.code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  },
  {
    name: 'head-size-whole',
    why: 'The response head limit counts the whole head (status line, names, values, separators), as node:http does; undici counts only ' +
      'names and values, so a head just under its limit can be over ours.',
    matches: (c, own, undici) => own.error?.code === 'HPE_HEADER_OVERFLOW' && !undici.error?.code?.includes('OVERFLOW')
      && headOf(c).length <= FUZZ_CLIENT_MAX_HEADER_SIZE + 1024,
  },
  {
    name: 'close-delimited-reset',
    why: 'A response without Content-Length or chunked framing ends with the connection; ended by a reset instead of a close it may be cut, ' +
      'so it fails (nginx reports it the same way); undici takes it as complete.',
    matches: (c, own, undici) => c.after === 'reset' && own.error?.code === 'ECONNRESET' && !undici.error
      && !/\r\ncontent-length:/i.test(headOf(c)) && !/\r\ntransfer-encoding:[^\r\n]*chunked[ \t]*\r\n/i.test(headOf(c)),
  },
  {
    name: 'undici-split-reason',
    why: 'undici\'s fault, not a choice: when a reason phrase is split over two reads undici reports only its last part; ours has it whole.',
    matches: (_c, own, undici) => sameBut(own, undici, 'statusMessage') && !!own.statusMessage && !!undici.statusMessage
      && own.statusMessage !== undici.statusMessage && own.statusMessage.endsWith(undici.statusMessage),
  },
];

export interface CaseResult {
  diffs: string[];
  own: ClientOutcome;
  undici: ClientOutcome;
  known?: string;
}

/** Runs `c` through both clients at once; a difference is confirmed by running each again alone. */
export async function checkCase(node: RawUpstream, c: UpstreamCase): Promise<CaseResult> {
  let [own, undici] = await Promise.all([runOwn(node, c), runUndici(node, c)]);
  let diffs = compareOutcomes(own, undici);
  if (diffs.length === 0) return { diffs, own, undici };
  [own, undici] = await Promise.all([runOwn(node, c, CONFIRM_TIMEOUT_MS), runUndici(node, c, CONFIRM_TIMEOUT_MS)]);
  diffs = compareOutcomes(own, undici);
  const known = diffs.length > 0 ? CLIENT_DIFFERENCES.find((d) => d.matches(c, own, undici))?.name : undefined;
  return { diffs, own, undici, known };
}

export interface ClientFuzzReport {
  seed: number;
  cases: number;
  /** Cases both clients completed (not failures): how much of the run was well-formed. */
  completed: number;
  known: Record<string, number>;
  failures: Array<{ index: number; case: UpstreamCase; diffs: string[] }>;
}

export async function fuzzClients(node: RawUpstream, seed: number, runs: number, concurrency = 16): Promise<ClientFuzzReport> {
  const cases = fc.sample(upstreamCase, { seed, numRuns: runs });
  const results = await inParallel(cases, concurrency, (c) => checkCase(node, c));
  const report: ClientFuzzReport = { seed, cases: runs, completed: 0, known: {}, failures: [] };
  results.forEach((r, index) => {
    if (!r.undici.error) report.completed++;
    if (r.diffs.length === 0) return;
    if (r.known) report.known[r.known] = (report.known[r.known] ?? 0) + 1;
    else report.failures.push({ index, case: cases[index], diffs: r.diffs });
  });
  return report;
}

/** Shrinks the failure at `index` of the run from `seed` (as shrinkServerFailure). */
export async function shrinkClientFailure(node: RawUpstream, seed: number, index: number): Promise<{ case: UpstreamCase; diffs: string[] } | undefined> {
  let last: { case: UpstreamCase; diffs: string[] } | undefined;
  const out = await fc.check(fc.asyncProperty(upstreamCase, async (c) => {
    const r = await checkCase(node, c);
    if (r.diffs.length === 0 || r.known) return true;
    last = { case: c, diffs: r.diffs };
    return false;
  }), { seed, path: String(index), numRuns: 1, endOnFailure: false });
  if (!out.failed || !out.counterexample) return undefined;
  return last ?? { case: out.counterexample[0], diffs: [] };
}
