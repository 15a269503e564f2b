import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { PassThrough } from 'node:stream';
import { listenOnLoopback, makeTestCertificates, waitFor } from '@portico/testkit';
import { H1Pool, nativeParserAvailable, type UpstreamHandler, type UpstreamRequest } from '@portico/http1';
import { PoolManager } from '../src/upstream/pools';
import { startHangingPort } from './helpers/hanging-port';

/** What a handler saw for one request. */
interface Outcome {
  status?: number;
  statusMessage?: string;
  headers: string[];
  body: string;
  error?: Error & { code?: string };
  connects: number;
  pending: boolean;
}

/** Dispatches `opts` and resolves when the request completes or fails. */
function call(pool: H1Pool, opts: Partial<UpstreamRequest> = {}, hooks: Partial<UpstreamHandler> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { headers: [], body: '', connects: 0, pending: false };
    pool.dispatch({
      path: '/', method: 'GET', headers: ['host', 'node.test'], body: null, headersTimeout: 5000, bodyTimeout: 5000, ...opts,
    }, {
      onPending: (cancel) => {
        out.pending = true;
        hooks.onPending?.(cancel);
      },
      onConnect: (abort) => {
        out.connects++;
        hooks.onConnect?.(abort);
      },
      onHeaders: (status, raw, resume, message) => {
        out.status = status;
        out.statusMessage = message;
        out.headers = raw.map(String);
        return hooks.onHeaders?.(status, raw, resume, message) ?? true;
      },
      onData: (chunk) => {
        out.body += chunk.toString('latin1');
        return hooks.onData?.(chunk) ?? true;
      },
      onComplete: () => resolve(out),
      onError: (err) => {
        out.error = err;
        resolve(out);
      },
    });
  });
}

/** Raw servers still open; each test's are closed after it. */
const openServers: Array<() => Promise<void>> = [];

/**
 * A TCP server that hands each request head (GET-style: no body is read) to `answer`, with the
 * connection and the number of the request on that connection (1-based).
 */
async function rawServer(answer: (sock: net.Socket, head: string, n: number) => void): Promise<{
  port: number; heads: string[]; connections: net.Socket[]; close: () => Promise<void>;
}> {
  const heads: string[] = [];
  const connections: net.Socket[] = [];
  const server = net.createServer((sock) => {
    connections.push(sock);
    let buf = '';
    let n = 0;
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let end;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        heads.push(head);
        answer(sock, head, ++n);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const close = async (): Promise<void> => {
    for (const s of connections) s.destroy();
    if (server.listening) await new Promise<void>((r) => server.close(() => r()));
  };
  openServers.push(close);
  return { port: (server.address() as net.AddressInfo).port, heads, connections, close };
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

describe('H1Pool (the upstream client for http and https nodes)', () => {
  const pools: H1Pool[] = [];
  const poolFor = (port: number, opts: { idleMs?: number; maxRequests?: number; maxHeaderSize?: number } = {}): H1Pool => {
    const p = new H1Pool(`http://127.0.0.1:${port}`, { idleMs: 60_000, maxRequests: 1000, ...opts });
    pools.push(p);
    return p;
  };
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.destroy();
    for (const close of openServers.splice(0)) await close();
  });

  it('is available on this node, and the pool manager uses it for http and https nodes', async () => {
    expect(nativeParserAvailable).toBe(true);
    const pm = new PoolManager({ lingerMs: 0 });
    try {
      expect(pm.acquire('http://127.0.0.1:1').pool).toBeInstanceOf(H1Pool);
      expect(pm.acquire('https://127.0.0.1:1').pool).toBeInstanceOf(H1Pool);
    } finally {
      await pm.close(100);
    }
  });

  it('PORTICO_UPSTREAM_CLIENT=undici puts http and https nodes on undici (the built package, in a fresh process)', () => {
    const dist = path.resolve(__dirname, '../dist');
    const probe = `const { PoolManager } = require(${JSON.stringify(`${dist}/upstream/pools`)});
      const { H1Pool } = require(${JSON.stringify(path.resolve(__dirname, '../../http1/dist'))});
      const pm = new PoolManager({ lingerMs: 0 });
      console.log(pm.acquire('http://127.0.0.1:1').pool instanceof H1Pool, pm.acquire('https://127.0.0.1:1').pool instanceof H1Pool);
      pm.close(100).then(() => process.exit(0));`;
    const run = (env: NodeJS.ProcessEnv) => execFileSync(process.execPath, ['-e', probe], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
    expect(run({ PORTICO_UPSTREAM_CLIENT: 'undici' })).toBe('false false');
    expect(run({ PORTICO_UPSTREAM_CLIENT: '' })).toBe('true true');
  });

  it('reuses a connection, writes a well-formed head and relays status, message and headers', async () => {
    const s = await rawServer((sock) => sock.write('HTTP/1.1 201 Made Here\r\nX-One: 1\r\ncontent-length: 2\r\n\r\nok'));
    const pool = poolFor(s.port);
    const first = await call(pool, { path: '/a?b=c', headers: ['X-Custom', 'v'] });
    expect(first).toMatchObject({ status: 201, statusMessage: 'Made Here', body: 'ok', connects: 1, pending: true });
    expect(first.headers).toEqual(['X-One', '1', 'content-length', '2']);
    const second = await call(pool);
    expect(second).toMatchObject({ status: 201, body: 'ok', pending: false });
    expect(s.connections.length).toBe(1);
    // no Host given: the node's authority is sent
    expect(s.heads[0]).toBe(`GET /a?b=c HTTP/1.1\r\nX-Custom: v\r\nhost: 127.0.0.1:${s.port}\r\nconnection: keep-alive`);
    expect(s.heads[1]).toBe('GET / HTTP/1.1\r\nhost: node.test\r\nconnection: keep-alive');
  });

  it('sends a GET again on a new connection when the node closed the kept-alive one as it was reused, but not a POST', async () => {
    // Every connection answers its first request and is closed, unanswered, on its second.
    const s = await rawServer((sock, _head, n) => (n === 1 ? sock.write(OK) : sock.destroy()));
    const pool = poolFor(s.port);
    expect((await call(pool)).status).toBe(200);
    const retried = await call(pool);
    expect(retried).toMatchObject({ status: 200, body: 'ok' });
    expect(s.connections.length).toBe(2);
    const post = await call(pool, { method: 'POST' });
    expect(post.error?.code).toBe('UND_ERR_SOCKET');
    expect(s.connections.length).toBe(2);
  });

  it('does not resend a request that got part of an answer, or that failed on a fresh connection', async () => {
    const s = await rawServer((sock, _head, n) => {
      if (n === 1) sock.write(OK);
      else sock.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
    });
    const pool = poolFor(s.port);
    await call(pool);
    const cut = await call(pool);
    expect(cut.error?.code).toMatch(/^HPE_|UND_ERR_SOCKET/);
    expect(s.connections.length).toBe(1);
    await s.close();
    const refused = await call(poolFor(s.port));
    expect(refused.error?.code).toBe('ECONNREFUSED');
    expect(refused.connects).toBe(0);
  });

  it('follows the node\'s Keep-Alive hint and its own idle timeout', async () => {
    const s = await rawServer((sock, head) => sock.write(head.includes('/short')
      ? 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\ncontent-length: 2\r\n\r\nok'
      : OK));
    // a hint at or below the safety margin: not reused at all
    const hinted = poolFor(s.port);
    await call(hinted, { path: '/short' });
    await call(hinted, { path: '/short' });
    expect(s.connections.length).toBe(2);
    // idle_timeout: the client closes an idle connection itself
    const idle = poolFor(s.port, { idleMs: 100 });
    await call(idle);
    const conn = s.connections[2];
    await waitFor(() => conn.destroyed || conn.readableEnded, { timeoutMs: 5000, what: 'the idle connection closed' });
    expect(idle.size).toBe(0);
  });

  it('asks the node to close after keepalive_pool.requests requests, and opens a new connection', async () => {
    const s = await rawServer((sock) => sock.write(OK));
    const pool = poolFor(s.port, { maxRequests: 2 });
    for (let i = 0; i < 3; i++) expect((await call(pool)).status).toBe(200);
    expect(s.heads.map((h) => h.split('\r\n').pop())).toEqual(['connection: keep-alive', 'connection: close', 'connection: keep-alive']);
    expect(s.connections.length).toBe(2);
  });

  it('reads no body after HEAD, skips 1xx answers, and refuses a protocol switch', async () => {
    const s = await rawServer((sock, head) => {
      if (head.startsWith('HEAD')) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n');
      else if (head.includes('/hints')) sock.write('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      else sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n');
    });
    const pool = poolFor(s.port);
    const head = await call(pool, { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
    const hints = await call(pool, { path: '/hints' });
    expect(hints).toMatchObject({ status: 200, body: 'ok' });
    expect(s.connections.length).toBe(1); // both left the connection reusable
    const sw = await call(pool, { path: '/switch' });
    expect(sw.error?.code).toBe('BAD_RESPONSE');
    expect(sw.status).toBeUndefined();
  });

  it('reads chunked and close-delimited bodies, and rejects malformed or oversized answers', async () => {
    const s = await rawServer((sock, head) => {
      const path = head.split(' ')[1];
      if (path === '/chunked') sock.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
      else if (path === '/eof') sock.end('HTTP/1.0 200 OK\r\n\r\nuntil the end');
      else if (path === '/both') sock.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      else if (path === '/big') sock.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(4096)}\r\ncontent-length: 2\r\n\r\nok`);
      else sock.write('HTTP/1.1 2xx Nope\r\n\r\n');
    });
    const pool = poolFor(s.port, { maxHeaderSize: 1024 });
    expect(await call(pool, { path: '/chunked' })).toMatchObject({ status: 200, body: 'abcde' });
    expect(await call(pool, { path: '/eof' })).toMatchObject({ status: 200, body: 'until the end' });
    for (const path of ['/both', '/big', '/garbage']) {
      const r = await call(pool, { path });
      expect(r.error?.code).toMatch(/^HPE_/);
      expect(r.status).toBeUndefined();
    }
    expect((await call(pool, { path: '/big' })).error?.code).toBe('HPE_HEADER_OVERFLOW');
  });

  it('stops reading while the handler is full, and a paused body does not time out', async () => {
    const s = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab');
      setTimeout(() => sock.write('cd'), 50);
    });
    const pool = poolFor(s.port);
    let resume: (() => void) | undefined;
    let chunks = 0;
    const r = call(pool, { bodyTimeout: 200 }, {
      onHeaders: (_s, _h, res) => {
        resume = res;
        return true;
      },
      onData: () => {
        if (++chunks > 1) return true;
        // a slow client: nothing more is read for longer than the body timeout
        setTimeout(() => resume!(), 400);
        return false;
      },
    });
    const out = await r;
    expect(out.error).toBeUndefined();
    expect(out.body).toBe('abcd');
    expect(chunks).toBe(2);
  });

  it.each(['http', 'https'])('%s: holds a large answer back at the node while the handler is full, and relays all of it once resumed', async (scheme) => {
    const size = 64 * 1024 * 1024;
    let served: net.Socket | undefined;
    const onConnection = (sock: net.Socket): void => {
      served = sock;
      sock.on('error', () => undefined);
      sock.once('data', () => {
        sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`);
        sock.write(Buffer.alloc(size, 120));
      });
    };
    let server: net.Server;
    if (scheme === 'https') {
      const certs = makeTestCertificates('portico-h1-pool');
      server = tls.createServer({ cert: fs.readFileSync(path.join(certs.dir, 'server.pem')), key: fs.readFileSync(path.join(certs.dir, 'server.key')) }, onConnection);
      openServers.push(async () => fs.rmSync(certs.dir, { recursive: true, force: true }));
    } else server = net.createServer(onConnection);
    const port = await listenOnLoopback(server);
    openServers.push(async () => {
      served?.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const pool = new H1Pool(`${scheme}://127.0.0.1:${port}`, { idleMs: 60_000, maxRequests: 1000, tls: { rejectUnauthorized: false } });
    pools.push(pool);
    let received = 0;
    let resume: (() => void) | undefined;
    let paused = false;
    const done = new Promise<Error | undefined>((resolve) => {
      pool.dispatch({ path: '/', method: 'GET', headers: ['host', 'node.test'], body: null, headersTimeout: 10_000, bodyTimeout: 10_000 }, {
        onConnect: () => undefined,
        onHeaders: (_s, _h, res) => {
          resume = res;
          return true;
        },
        onData: (chunk) => {
          received += chunk.length;
          if (paused) return true;
          paused = true; // a slow client: take nothing more until resumed
          return false;
        },
        onComplete: () => resolve(undefined),
        onError: (err) => resolve(err),
      });
    });
    // Held back: the node's send queue stops shrinking (the socket buffers between are full)
    // with most of the answer still in it. A client that kept reading would empty it at once.
    let last = -1;
    let steady = 0;
    await waitFor(() => {
      const queued = served?.writableLength ?? 0;
      steady = queued === last ? steady + 1 : 0;
      last = queued;
      return paused && queued > size / 2 && steady >= 5;
    }, { timeoutMs: 10_000, intervalMs: 50, what: 'the node held back' });
    expect(received).toBeLessThan(size / 2);
    resume!();
    expect(await done).toBeUndefined();
    expect(received).toBe(size);
  });

  it('keeps a long head whole and a chunked body\'s trailers out of the next answer', async () => {
    const many = Array.from({ length: 40 }, (_, i) => `x-h${i}: ${i}\r\n`).join('');
    const s = await rawServer((sock, head) => sock.write(head.includes('/trailer')
      ? 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-trailer: t\r\n\r\n'
      : `HTTP/1.1 200 OK\r\n${many}content-length: 2\r\n\r\nok`));
    const pool = poolFor(s.port);
    expect(await call(pool, { path: '/trailer' })).toMatchObject({ status: 200, body: 'ok' });
    const long = await call(pool, { path: '/long' });
    expect(long.status).toBe(200);
    expect(long.headers.length).toBe(82);
    expect(long.headers).not.toContain('x-trailer');
    expect(long.headers.slice(0, 4)).toEqual(['x-h0', '0', 'x-h1', '1']);
    expect(s.connections.length).toBe(1);
  });

  it('refuses invalid requests before sending anything', async () => {
    const s = await rawServer((sock) => sock.write(OK));
    const pool = poolFor(s.port);
    const bad: Array<Partial<UpstreamRequest>> = [
      { headers: ['x-evil', 'a\r\nx-injected: 1'] },
      { headers: ['bad name', 'v'] },
      { headers: ['Transfer-Encoding', 'chunked'] },
      { headers: ['connection', 'upgrade'] },
      { headers: ['content-length', '5'] }, // no body to send
      { headers: ['content-length', '1', 'content-length', '2'], body: new PassThrough() },
      { path: '/a b' },
      { path: 'no-slash' },
      { method: 'GE T' },
    ];
    for (const opts of bad) {
      const r = await call(pool, opts);
      expect(r.error?.code).toBe('UND_ERR_INVALID_ARG');
      expect(r.connects).toBe(0);
    }
    expect(s.connections.length).toBe(0);
  });

  it('times out a silent node (head and body separately)', async () => {
    const s = await rawServer((sock, head) => {
      if (head.includes('/slow-body')) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab');
    });
    const pool = poolFor(s.port);
    expect((await call(pool, { path: '/silent', headersTimeout: 150 })).error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    const body = await call(pool, { path: '/slow-body', bodyTimeout: 150 });
    expect(body.error?.code).toBe('UND_ERR_BODY_TIMEOUT');
    expect(body.status).toBe(200);
    await waitFor(() => s.connections.every((c) => c.destroyed || c.readableEnded), { timeoutMs: 5000, what: 'timed-out connections closed' });
  });

  it('streams request bodies with content-length or chunked, and cuts the connection when the body is aborted', async () => {
    const got: Array<{ body: string; te?: string; cl?: string }> = [];
    let aborted = 0;
    let started = 0;
    const server = http.createServer((req, res) => {
      started++;
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        got.push({ body, te: req.headers['transfer-encoding'], cl: req.headers['content-length'] });
        res.end('done');
      });
      req.on('aborted', () => aborted++);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const pool = poolFor(port);
      const withLength = new PassThrough();
      const a = call(pool, { method: 'POST', headers: ['content-length', '6'], body: withLength });
      withLength.write('abc');
      withLength.end('def');
      expect(await a).toMatchObject({ status: 200, body: 'done' });
      const chunkedBody = new PassThrough();
      const b = call(pool, { method: 'POST', body: chunkedBody });
      chunkedBody.write('12');
      chunkedBody.write('');
      chunkedBody.end('345');
      expect(await b).toMatchObject({ status: 200, body: 'done' });
      expect(got).toEqual([{ body: 'abcdef', cl: '6' }, { body: '12345', te: 'chunked' }]);

      const cut = new PassThrough();
      const c = call(pool, { method: 'POST', headers: ['content-length', '100'], body: cut });
      cut.write('partial');
      // (cut once the node has the head: a body cut before anything was sent reaches no node)
      await waitFor(() => started === 3, { timeoutMs: 5000, what: 'the request started' });
      cut.destroy();
      expect((await c).error?.code).toBe('UND_ERR_ABORTED');
      await waitFor(() => aborted === 1, { timeoutMs: 5000, what: 'the node saw the body cut' });
      expect(got.length).toBe(2);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('does not reuse a connection whose node answered before the request body was sent', async () => {
    const s = await rawServer((sock) => sock.write('HTTP/1.1 413 Too Large\r\ncontent-length: 0\r\n\r\n'));
    const pool = poolFor(s.port);
    const body = new PassThrough();
    const r = call(pool, { method: 'POST', headers: ['content-length', '10'], body });
    body.write('12345'); // the rest never comes
    expect((await r).status).toBe(413);
    expect(pool.size).toBe(0);
    body.destroy();
  });

  it('https: the connect timeout covers the TLS handshake', async () => {
    // TCP connects, but the ClientHello is never answered
    const s = await rawServer(() => undefined);
    const pool = new H1Pool(`https://127.0.0.1:${s.port}`, { idleMs: 60_000, maxRequests: 1000 });
    pools.push(pool);
    const r = await call(pool, { connectTimeout: 200 });
    expect(r.error?.code).toBe('UND_ERR_CONNECT_TIMEOUT');
    expect(r).toMatchObject({ pending: true, connects: 0 });
    expect(s.connections.length).toBe(1);
    expect(s.heads).toEqual([]);
    expect(pool.size).toBe(0);
  });

  it('https: a new connection resumes the TLS session of an earlier one, per SNI name', async () => {
    const certs = makeTestCertificates('portico-h1-pool');
    openServers.push(async () => fs.rmSync(certs.dir, { recursive: true, force: true }));
    // Every answer closes its connection, so each request needs a new one.
    const resumed: Array<[string | false | null, boolean]> = [];
    const server = tls.createServer({ cert: fs.readFileSync(path.join(certs.dir, 'server.pem')), key: fs.readFileSync(path.join(certs.dir, 'server.key')) }, (sock) => {
      resumed.push([sock.servername, sock.isSessionReused()]);
      sock.on('error', () => undefined);
      sock.once('data', () => sock.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'));
    });
    const port = await listenOnLoopback(server);
    openServers.push(() => new Promise<void>((r) => server.close(() => r())));
    const pool = new H1Pool(`https://127.0.0.1:${port}`, { idleMs: 60_000, maxRequests: 1000, tls: { rejectUnauthorized: false } });
    pools.push(pool);
    for (const servername of [undefined, undefined, 'a.test', 'a.test', undefined]) {
      expect((await call(pool, { servername })).body).toBe('ok');
    }
    expect(resumed).toEqual([[false, false], [false, true], ['a.test', false], ['a.test', true], [false, true]]);
  });

  it('times out a connection attempt that gets no answer, before anything is sent', async () => {
    const hang = await startHangingPort();
    try {
      const pool = poolFor(hang.port);
      const r = await call(pool, { connectTimeout: 200, method: 'POST', headers: ['content-length', '2'], body: new PassThrough() });
      expect(r.error?.code).toBe('UND_ERR_CONNECT_TIMEOUT');
      expect(r).toMatchObject({ pending: true, connects: 0 });
      expect(pool.size).toBe(0);
    } finally {
      hang.close();
    }
  });

  it('withdraws a request still waiting for its connection, and aborts a running one', async () => {
    const s = await rawServer(() => undefined); // never answers
    const pool = poolFor(s.port);
    const cancelled = await call(pool, {}, { onPending: (cancel) => cancel(new Error('gave up')) });
    expect(cancelled.error?.message).toBe('gave up');
    expect(cancelled.connects).toBe(0);
    let abort: ((err?: Error) => void) | undefined;
    const running = call(pool, {}, { onConnect: (a) => (abort = a) });
    await waitFor(() => s.heads.length === 1, { timeoutMs: 5000, what: 'the request reached the node' });
    abort!(new Error('client left'));
    expect((await running).error?.message).toBe('client left');
    await waitFor(() => pool.size === 0, { timeoutMs: 5000, what: 'the aborted connection closed' });
  });

  it('close() lets running requests finish and refuses new ones; destroy() fails them', async () => {
    let hold: net.Socket | undefined;
    const s = await rawServer((sock) => {
      hold = sock;
    });
    const pool = poolFor(s.port);
    const running = call(pool);
    await waitFor(() => hold !== undefined, { timeoutMs: 5000, what: 'the request reached the node' });
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    expect((await call(pool)).error?.code).toBe('UND_ERR_CLOSED');
    expect(closed).toBe(false);
    hold!.write(OK);
    expect((await running).status).toBe(200);
    await closing;
    expect(pool.size).toBe(0);

    const other = poolFor(s.port);
    hold = undefined;
    const doomed = call(other);
    await waitFor(() => hold !== undefined, { timeoutMs: 5000, what: 'the request reached the node' });
    await other.destroy();
    expect((await doomed).error?.code).toBe('UND_ERR_DESTROYED');
  });

  it('a handler that throws fails its own request, not the process', async () => {
    const s = await rawServer((sock) => sock.write(OK));
    const reported: unknown[] = [];
    const pool = new H1Pool(`http://127.0.0.1:${s.port}`, { idleMs: 60_000, maxRequests: 1000, onHandlerError: (e) => reported.push(e) });
    pools.push(pool);
    const boom = new Error('filter failed');
    const r = await call(pool, {}, { onHeaders: () => { throw boom; } });
    expect(r.error).toBe(boom);
    // onComplete has no request left to fail: reported, and the connection is not reused
    await new Promise<void>((resolve) => pool.dispatch(
      { path: '/', method: 'GET', headers: [], body: null, headersTimeout: 5000, bodyTimeout: 5000 },
      { onConnect: () => undefined, onHeaders: () => true, onData: () => true, onError: () => undefined,
        onComplete: () => { setImmediate(resolve); throw new Error('late failure'); } }));
    expect(reported.map(String)).toEqual(['Error: late failure']);
    expect((await call(pool)).status).toBe(200);
    expect(s.connections.length).toBe(3);
  });

  it('drops a connection that receives bytes nobody asked for', async () => {
    const s = await rawServer((sock) => sock.write(`${OK}HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n`));
    const pool = poolFor(s.port);
    expect((await call(pool)).status).toBe(200);
    await waitFor(() => pool.size === 0, { timeoutMs: 5000, what: 'the connection dropped' });
    expect((await call(pool)).status).toBe(200);
    expect(s.connections.length).toBe(2);
  });

  it('takes a Content-Length body from its read buffer, however the answer is split over reads', async () => {
    const big = 'x'.repeat(200_000);
    const head = (body: string): string => `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`;
    /** Writes `parts` one at a time, each after the previous one has left (most arrive as reads of their own). */
    const writeApart = async (sock: net.Socket, parts: string[]): Promise<void> => {
      for (const p of parts) {
        await new Promise<void>((r) => sock.write(p, 'latin1', () => r()));
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const answers: Array<(sock: net.Socket) => void> = [
      (sock) => sock.write(`${head('hello')}hello`),
      // the same connection again: the parser is ready for the next head
      (sock) => sock.write(`${head('again')}again`),
      // head with the start of the body, then the rest
      (sock) => void writeApart(sock, [`${head('abcdef')}ab`, 'cd', 'ef']),
      // a head split over reads, also inside its blank line: that body comes through the parser
      (sock) => void writeApart(sock, ['HTTP/1.1 200 OK\r\ncontent-le', 'ngth: 3\r\n\r', '\nxyz']),
      // an informational answer and the final one in one read
      (sock) => sock.write(`HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n${head('final')}final`),
      // chunked, then a large Content-Length body (many reads)
      (sock) => sock.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
      (sock) => sock.write(`${head(big)}${big}`),
      // a 204 announcing a length has no body; the next answer follows at once
      (sock) => sock.write('HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n'),
      (sock) => sock.write(`${head('last')}last`),
    ];
    const s = await rawServer((sock, _head, n) => answers[n - 1](sock));
    const pool = poolFor(s.port);
    const bodies: string[] = [];
    const ownArrayBuffers: number[] = [];
    for (let i = 0; i < answers.length; i++) {
      let own = 0;
      const out = await call(pool, {}, {
        onData: (chunk) => {
          // A chunk node's parser copied has an ArrayBuffer of exactly its size; ours come from node's pool.
          if (chunk.length < 4096 && chunk.buffer.byteLength === chunk.length) own++;
          return true;
        },
      });
      expect(out.error).toBeUndefined();
      bodies.push(out.body);
      ownArrayBuffers.push(own);
    }
    expect(bodies).toEqual(['hello', 'again', 'abcdef', 'xyz', 'final', 'abc', big, '', 'last']);
    expect(s.connections.length).toBe(1);
    // Taken from the read buffer: every Content-Length body whose head started a read and ended in it.
    expect([0, 1, 2, 8].map((i) => ownArrayBuffers[i])).toEqual([0, 0, 0, 0]);
    // Through the parser's copies: after a 1xx, and a chunked body. (After a head split over
    // reads too, but the reads of answer 3 may come together on a busy machine.)
    expect([4, 5].map((i) => ownArrayBuffers[i] > 0)).toEqual([true, true]);
  });

  it('https: takes a Content-Length body from its read buffer too, and chunked ones through the parser', async () => {
    const certs = makeTestCertificates('portico-h1-pool');
    openServers.push(async () => fs.rmSync(certs.dir, { recursive: true, force: true }));
    const big = 'y'.repeat(100_000);
    const answers = [
      'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello',
      `HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n${big}`,
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlast',
    ];
    let n = 0;
    const server = tls.createServer({ cert: fs.readFileSync(path.join(certs.dir, 'server.pem')), key: fs.readFileSync(path.join(certs.dir, 'server.key')) }, (sock) => {
      sock.on('error', () => undefined);
      sock.on('data', () => sock.write(answers[n++]));
    });
    const port = await listenOnLoopback(server);
    openServers.push(() => new Promise<void>((r) => server.close(() => r())));
    const pool = new H1Pool(`https://127.0.0.1:${port}`, { idleMs: 60_000, maxRequests: 1000, tls: { rejectUnauthorized: false } });
    pools.push(pool);
    const bodies: string[] = [];
    const ownArrayBuffers: number[] = [];
    for (let i = 0; i < answers.length; i++) {
      let own = 0;
      const out = await call(pool, {}, { onData: (chunk) => ((own += chunk.length < 4096 && chunk.buffer.byteLength === chunk.length ? 1 : 0), true) });
      expect(out.error).toBeUndefined();
      bodies.push(out.body);
      ownArrayBuffers.push(own);
    }
    expect(bodies).toEqual(['hello', big, 'abc', 'last']);
    expect(pool.size).toBe(1);
    expect([ownArrayBuffers[0], ownArrayBuffers[3]]).toEqual([0, 0]);
    expect(ownArrayBuffers[2]).toBeGreaterThan(0);
  });
});
