import { closeServer, listenOnLoopback } from './listen';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * An upstream for proxy tests: answers with what it received so a test can see exactly what
 * the gateway forwarded. Special paths let tests provoke status codes, slowness, large
 * streamed answers and dropped connections.
 *
 *   GET /anything        200 {name, method, url, headers, body, bodyLength}
 *   /status/<code>       same JSON with that status (no body for 204/304)
 *   /delay/<ms>          same JSON after ms
 *   /stream/<bytes>      that many bytes of 'x', chunked
 *   /close               socket destroyed without an answer (the gateway should answer 502)
 */

export interface EchoReply {
  name: string;
  method: string;
  /** path and query as received */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** the first BODY_KEEP bytes of the request body, decoded as utf8 */
  body: string;
  /** the full request body length in bytes */
  bodyLength: number;
}

export interface EchoUpstream {
  port: number;
  url: string;
  name: string;
  /** requests received so far (including /close ones) */
  readonly requests: number;
  close(): Promise<void>;
}

export const ECHO_BODY_KEEP = 64 * 1024;
const STREAM_CHUNK = 16 * 1024;

/** Reads the body without buffering more than ECHO_BODY_KEEP bytes of it. */
function drainBody(req: IncomingMessage): Promise<{ body: string; bodyLength: number }> {
  return new Promise((resolve, reject) => {
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let bodyLength = 0;
    req.on('data', (chunk: Buffer) => {
      bodyLength += chunk.length;
      if (keptBytes < ECHO_BODY_KEEP) {
        const part = chunk.subarray(0, ECHO_BODY_KEEP - keptBytes);
        kept.push(part);
        keptBytes += part.length;
      }
    });
    req.on('end', () => resolve({ body: Buffer.concat(kept).toString('utf8'), bodyLength }));
    req.on('error', reject);
  });
}

/** Writes `total` bytes in chunks, waiting for the socket to drain (no unbounded buffering). */
function streamBytes(res: ServerResponse, total: number): void {
  const chunk = Buffer.alloc(STREAM_CHUNK, 'x');
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, STREAM_CHUNK);
      left -= n;
      if (!res.write(n === STREAM_CHUNK ? chunk : chunk.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  pump();
}

export async function startEchoUpstream(opts: { name?: string } = {}): Promise<EchoUpstream> {
  let requests = 0;
  const timers = new Set<NodeJS.Timeout>();

  async function handle(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const url = req.url ?? '/';
    const path = url.split('?')[0];
    if (path === '/close') {
      req.socket.destroy();
      return;
    }
    const { body, bodyLength } = await drainBody(req);

    const stream = path.match(/^\/stream\/(\d+)$/);
    if (stream) return streamBytes(res, Number(stream[1]));

    const delay = path.match(/^\/delay\/(\d+)$/);
    if (delay) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          resolve();
        }, Number(delay[1]));
        timers.add(t);
        // A client that gives up should not keep a timer alive.
        res.once('close', () => {
          clearTimeout(t);
          timers.delete(t);
          resolve();
        });
      });
      if (res.destroyed) return;
    }

    const status = path.match(/^\/status\/(\d{3})$/);
    const code = status ? Number(status[1]) : 200;
    const reply: EchoReply = { name, method: req.method ?? '', url, headers: req.headers, body, bodyLength };
    const text = code === 204 || code === 304 ? '' : JSON.stringify(reply);
    res.writeHead(code, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-echo-name': name,
    });
    res.end(text);
  }

  const server = http.createServer();
  const port = await listenOnLoopback(server);
  const name = opts.name ?? `echo-${port}`;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    handle(req, res, name).catch(() => res.destroy());
  });

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    name,
    get requests() {
      return requests;
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return closeServer(server);
    },
  };
}
