/**
 * One HTTP/1.1 server of the differential fuzz, in a process of its own (so that a crash is
 * seen as the process dying, and tells which server it was): `own` (h1/server.ts) or `node`
 * (node:http), with the same limits. Its handler records what reached it per client
 * connection (keyed by the client's port) and answers as the request's `x-fuzz-answer` says
 * (request-streams.ts, ANSWER_MODES). Talks to the harness over IPC:
 *   -> { type: 'ping', id }            <- { type: 'pong', id }   (after this loop turn's writes)
 *   -> { type: 'records', id, port }   <- { type: 'records', id, records }
 *   <- { type: 'ready', port }
 *   <- { type: 'uncaught', stack }     (an exception that would have ended the process)
 */
import http from 'node:http';
import type net from 'node:net';
import { H1Server } from '../../src/server';
import { FUZZ_MAX_HEADER_SIZE } from './request-streams';

export interface HandledRequest {
  method: string;
  url: string;
  version: string;
  /** Raw header names and values, as the server hands them over. */
  headers: string[];
  /** The body bytes the handler read (latin-1). */
  body: string;
  /** How the body ended: read to its end, aborted, not read (answered early), or still open. */
  end: 'complete' | 'aborted' | 'unread' | 'open';
}

/** The limits both servers run with (timeouts long enough never to fire during a case). */
export const FUZZ_SERVER_LIMITS = { keepAliveTimeout: 20_000, headersTimeout: 30_000, maxHeaderSize: FUZZ_MAX_HEADER_SIZE };

type Req = http.IncomingMessage;
type Res = http.ServerResponse;

const records = new Map<number, HandledRequest[]>();

function handle(req: Req, res: Res): void {
  const rec: HandledRequest = {
    method: req.method ?? '', url: req.url ?? '', version: req.httpVersion, headers: [...req.rawHeaders], body: '', end: 'open',
  };
  const port = req.socket.remotePort ?? 0;
  let list = records.get(port);
  if (!list) records.set(port, (list = []));
  list.push(rec);
  const mode = req.headers['x-fuzz-answer'];
  const answer = (): void => {
    const body = '<ok>';
    if (mode === 'chunked') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(body);
      res.end();
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'content-length': String(body.length) };
    if (mode === 'close') headers.connection = 'close';
    res.writeHead(200, headers);
    res.end(body);
  };
  if (mode === 'early') {
    // As a 404 or a refused key does: answered at once, the body left unread, no listener on it.
    rec.end = 'unread';
    answer();
    return;
  }
  req.on('data', (d: Buffer) => (rec.body += d.toString('latin1')));
  req.on('end', () => {
    rec.end = 'complete';
    answer();
  });
  req.on('error', () => {
    if (rec.end === 'open') rec.end = 'aborted';
  });
  req.on('aborted', () => {
    if (rec.end === 'open') rec.end = 'aborted';
  });
}

function listen(kind: string): Promise<number> {
  return new Promise((resolve) => {
    if (kind === 'own') {
      const server = new H1Server(FUZZ_SERVER_LIMITS, handle as never, (_req, socket) => socket.destroy());
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
      return;
    }
    // node:http as the proxy configures it (proxy.ts serverOptions), with the same limits.
    const server = http.createServer({ ...FUZZ_SERVER_LIMITS, requestTimeout: 0, insecureHTTPParser: false, requireHostHeader: true }, handle);
    server.on('upgrade', (_req, socket: net.Socket) => socket.destroy());
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

type Message = { type: 'ping'; id: number } | { type: 'records'; id: number; port: number };

async function main(): Promise<void> {
  const kind = process.argv[2];
  if (kind !== 'own' && kind !== 'node') throw new Error('usage: server-child own|node');
  const port = await listen(kind);
  process.on('message', (m: Message) => {
    if (m.type === 'ping') setImmediate(() => process.send!({ type: 'pong', id: m.id }));
    else if (m.type === 'records') {
      const list = records.get(m.port) ?? [];
      records.delete(m.port);
      process.send!({ type: 'records', id: m.id, records: list });
    }
  });
  process.on('disconnect', () => process.exit(0));
  // An uncaught exception would end a real process: it is reported as a crash, and this one
  // goes on (a restart costs seconds, and the other cases in flight are not cut).
  process.on('uncaughtException', (err) => process.send!({ type: 'uncaught', stack: err.stack ?? String(err) }));
  process.send!({ type: 'ready', port });
}

void main();
