import net from 'node:net';
import { waitFor } from '@portico/testkit';
import { H1Server, type H1ServerOptions, type RequestListener, type ServerRequest } from '../src/server';

/**
 * The data plane's own HTTP/1.1 server (h1/server.ts) on real sockets: the node:http behaviour
 * it must keep that the proxy, hygiene and websocket suites do not already pin down.
 */
const servers: H1Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function serve(onRequest: RequestListener, opts: Partial<H1ServerOptions> = {},
  onUpgrade: (req: ServerRequest, socket: net.Socket, head: Buffer) => void = (_r, s) => s.destroy()): Promise<number> {
  const server = new H1Server({ keepAliveTimeout: 5000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024, ...opts }, onRequest, onUpgrade);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** A raw client: what it has received so far, and whether the server closed the connection. */
function connect(port: number): { socket: net.Socket; text: () => string; closed: () => boolean } {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  let text = '';
  let closed = false;
  socket.on('data', (d) => (text += d.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  return { socket, text: () => text, closed: () => closed };
}

const hello: RequestListener = (req, res) => {
  const body = `${req.method} ${req.url}`;
  res.writeHead(200, ['content-type', 'text/plain', 'content-length', String(body.length)]);
  res.end(body);
};

describe('H1Server (the data plane\'s HTTP/1.1 server)', () => {
  it('answers pipelined requests in order, even when a later one is answered first', async () => {
    const pending: Array<() => void> = [];
    const port = await serve((req, res) => {
      const answer = () => hello(req, res);
      // the first request is answered last
      if (req.url === '/1') pending.push(answer);
      else {
        answer();
        if (req.url === '/3') pending.splice(0).forEach((f) => f());
      }
    });
    const c = connect(port);
    c.socket.write('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => (c.text().match(/HTTP\/1\.1 200/g) ?? []).length === 3, { what: 'three answers' });
    expect([...c.text().matchAll(/GET (\/\d)/g)].map((m) => m[1])).toEqual(['/1', '/2', '/3']);
    expect(c.closed()).toBe(false);
  });

  it('holds a pipelined answer\'s body until its turn, then lets its writer go on (drain)', async () => {
    const size = 1024 + 127 * 64 * 1024;
    let first: (() => void) | undefined;
    const port = await serve((req, res) => {
      if (req.url === '/1') {
        first = () => hello(req, res);
        return;
      }
      res.writeHead(200, ['content-length', String(size)]);
      let sent = 0;
      const pump = (): void => {
        while (sent < size) {
          // a small first chunk: held while waiting, it fills no socket buffer, so no socket
          // 'drain' would wake the writer
          const n = sent === 0 ? 1024 : 64 * 1024;
          sent += n;
          if (!res.write(Buffer.alloc(n, 98))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      first!(); // the first answer comes after the second started writing
    });
    const c = connect(port);
    c.socket.write('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => c.text().length >= size + 200 && c.text().endsWith('b'.repeat(10)), { what: 'both answers' });
    expect(c.text().startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(c.text().indexOf('GET /1')).toBeLessThan(c.text().indexOf('bbbb'));
  });

  it('stops reading a connection whose pipelined requests wait unanswered, and goes on as they are answered', async () => {
    const waiting: Array<() => void> = [];
    let seen = 0;
    let answerAtOnce = false;
    const port = await serve((req, res) => {
      seen++;
      if (answerAtOnce) hello(req, res);
      else waiting.push(() => hello(req, res));
    });
    const c = connect(port);
    const total = 4000; // ~170 KB: more than one read
    c.socket.write('GET /p HTTP/1.1\r\nHost: a\r\n\r\n'.repeat(total));
    // What one read held is parsed; then nothing more until answers go out: the count stays put
    // while all the bytes have left the client.
    let last = -1;
    let steady = 0;
    await waitFor(() => {
      steady = seen === last ? steady + 1 : 0;
      last = seen;
      return c.socket.writableLength === 0 && seen > 0 && steady >= 5;
    }, { intervalMs: 50, what: 'a stalled connection' });
    expect(seen).toBeLessThan(total);
    answerAtOnce = true;
    for (const answer of waiting.splice(0)) answer();
    await waitFor(() => (c.text().match(/GET \/p/g) ?? []).length === total, { timeoutMs: 20_000, what: 'every answer' });
    expect(seen).toBe(total);
  });

  it('keeps the connection for HTTP/1.1, closes it on Connection: close, and says which', async () => {
    const port = await serve(hello, { keepAliveTimeout: 7000 });
    const c = connect(port);
    c.socket.write('GET /a HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => c.text().includes('GET /a'), { what: 'the first answer' });
    expect(c.text()).toMatch(/\r\nConnection: keep-alive\r\nKeep-Alive: timeout=7\r\n/);
    expect(c.text()).toMatch(/\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    expect(c.text().match(/keep-alive: /gi)).toHaveLength(1);
    c.socket.write('GET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await waitFor(() => c.closed(), { what: 'the server closed the connection' });
    expect(c.text()).toMatch(/GET \/b$/);
    expect(c.text().split('HTTP/1.1 200')[2]).toMatch(/\r\nConnection: close\r\n/);
  });

  it('sends a caller\'s Keep-Alive header instead of its own, never both', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200, ['Keep-Alive', 'timeout=9', 'content-length', '0']);
      res.end();
    });
    const c = connect(port);
    c.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => c.text().endsWith('\r\n\r\n'), { what: 'the answer' });
    expect(c.text().match(/keep-alive: [^\r]*/gi)).toEqual(['Keep-Alive: timeout=9']);
  });

  it('frames an answer without a length as chunked for HTTP/1.1, and by closing for HTTP/1.0', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200, ['content-type', 'text/plain']);
      res.write('hello ');
      res.end('world');
    });
    const a = connect(port);
    a.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => a.text().endsWith('0\r\n\r\n'), { what: 'the chunked answer' });
    expect(a.text()).toMatch(/\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n$/);
    const b = connect(port);
    b.socket.write('GET / HTTP/1.0\r\n\r\n');
    await waitFor(() => b.closed(), { what: 'the HTTP/1.0 answer, ended by the close' });
    expect(b.text()).toMatch(/\r\nConnection: close\r\n\r\nhello world$/);
    expect(b.text()).not.toMatch(/chunked/i);
  });

  it('keeps an HTTP/1.0 connection that asks for it when the answer has a length', async () => {
    const port = await serve(hello);
    const c = connect(port);
    c.socket.write('GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await waitFor(() => c.text().endsWith('GET /x'), { what: 'the answer' });
    expect(c.text()).toMatch(/\r\nConnection: keep-alive\r\n/);
    c.socket.write('GET /y HTTP/1.0\r\n\r\n');
    await waitFor(() => c.closed(), { what: 'the close after a request without keep-alive' });
    expect(c.text()).toMatch(/GET \/y$/);
  });

  it('sends no body for HEAD, 204 and 304, and no chunked framing for them', async () => {
    const port = await serve((req, res) => {
      const status = Number(req.url!.slice(1)) || 200;
      res.writeHead(status, status === 200 ? ['x-status', '200', 'content-length', '4'] : ['x-status', String(status)]);
      res.end(status === 200 ? 'body' : undefined);
    });
    const c = connect(port);
    c.socket.write('HEAD /200 HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\nGET /200 HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => c.text().endsWith('body'), { what: 'four answers' });
    const answers = c.text().split(/(?=HTTP\/1\.1 )/);
    expect(answers.map((a) => a.split(' ')[1])).toEqual(['200', '204', '304', '200']);
    for (const a of answers.slice(0, 3)) {
      expect(a.endsWith('\r\n\r\n')).toBe(true);
      expect(a).not.toMatch(/transfer-encoding/i);
    }
  });

  it('answers Expect: 100-continue with 100 before the body is read; other expectations with 417', async () => {
    let body = '';
    const port = await serve((req, res) => {
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => hello(req, res));
    });
    const c = connect(port);
    c.socket.write('POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
    await waitFor(() => c.text() === 'HTTP/1.1 100 Continue\r\n\r\n', { what: 'the 100' });
    c.socket.write('data');
    await waitFor(() => c.text().endsWith('POST /up'), { what: 'the answer' });
    expect(body).toBe('data');
    const d = connect(port);
    d.socket.write('POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nExpect: something-else\r\n\r\n');
    await waitFor(() => /^HTTP\/1\.1 417 /.test(d.text()), { what: 'the 417' });
  });

  it('refuses an HTTP/1.1 request without Host (400) and a malformed or oversized head as node:http does', async () => {
    let seen = 0;
    const port = await serve((req, res) => {
      seen++;
      hello(req, res);
    });
    const cases: Array<[string, RegExp]> = [
      ['GET / HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n/],
      ['GARBAGE\r\n\r\n', /^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n\r\n$/],
      ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n\r\n$/],
      [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n$/],
    ];
    for (const [request, answer] of cases) {
      const c = connect(port);
      c.socket.write(request);
      await waitFor(() => c.closed(), { what: `the close after ${JSON.stringify(request.slice(0, 20))}` });
      expect(c.text()).toMatch(answer);
    }
    expect(seen).toBe(0);
  });

  it('times out a head that does not arrive (408) and a kept-alive connection left idle', async () => {
    const port = await serve(hello, { headersTimeout: 300, keepAliveTimeout: 200 });
    const slow = connect(port);
    slow.socket.write('GET / HTTP/1.1\r\nHost: a\r\n'); // never finished
    await waitFor(() => slow.closed(), { what: 'the slow head cut' });
    expect(slow.text()).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    const idle = connect(port);
    idle.socket.write('GET /x HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => idle.text().endsWith('GET /x'), { what: 'the answer' });
    await waitFor(() => idle.closed(), { what: 'the idle connection closed' });
    expect(idle.text()).not.toMatch(/408/);
  });

  it('streams a request body with backpressure, and reports a client that leaves mid-body', async () => {
    let received = 0;
    let errored: string | undefined;
    let reqRef: ServerRequest | undefined;
    const port = await serve((req) => {
      reqRef = req;
      req.pause(); // a slow reader: nothing is taken until resumed
      req.on('data', (d: Buffer) => (received += d.length));
      req.on('error', (e: Error & { code?: string }) => (errored = e.code));
    });
    const c = connect(port);
    const size = 32 * 1024 * 1024;
    c.socket.write(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
    // three quarters of the body: the request cannot complete before the client leaves
    c.socket.write(Buffer.alloc((size / 4) * 3, 97));
    // Held back: the client's send queue stops shrinking with most of the body still in it.
    let last = -1;
    let steady = 0;
    await waitFor(() => {
      const queued = c.socket.writableLength;
      steady = queued === last ? steady + 1 : 0;
      last = queued;
      return reqRef !== undefined && queued > size / 2 && steady >= 5;
    }, { intervalMs: 50, what: 'the upload held back' });
    expect(received).toBe(0);
    reqRef!.resume();
    await waitFor(() => received > size / 2, { what: 'the body flowing again' });
    c.socket.destroy();
    await waitFor(() => errored !== undefined, { what: 'the request told of the abort' });
    expect(errored).toBe('ECONNRESET');
  });

  it('drops CONNECT, and refuses an HTTP/2 preface with a 400, as node:http does', async () => {
    let seen = 0;
    const port = await serve(() => seen++, {}, () => seen++);
    const cases: Array<[string, string]> = [
      ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', ''],
      ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'],
    ];
    for (const [request, answer] of cases) {
      const c = connect(port);
      c.socket.write(request);
      await waitFor(() => c.closed(), { what: `the close after ${request.split(' ')[0]}` });
      expect(c.text()).toBe(answer);
    }
    expect(seen).toBe(0);
  });

  it('hands an Upgrade request over with the socket and the bytes after its head', async () => {
    let got: { url: string; head: string } | undefined;
    const port = await serve(hello, {}, (req, socket, head) => {
      got = { url: req.url, head: head.toString() };
      socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\nraw');
    });
    const c = connect(port);
    c.socket.write('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nfirst-frame');
    await waitFor(() => c.closed(), { what: 'the upgraded socket closed by its new owner' });
    expect(got).toEqual({ url: '/ws', head: 'first-frame' });
    expect(c.text()).toBe('HTTP/1.1 101 Switching Protocols\r\n\r\nraw');
  });

  it('refuses a write after the end without an error event that could take the process down', async () => {
    let late: boolean | undefined;
    const port = await serve((req, res) => {
      hello(req, res);
      late = res.write('more');
    });
    const c = connect(port);
    c.socket.write('GET /once HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => c.text().endsWith('GET /once'), { what: 'the answer' });
    expect(late).toBe(false);
    expect(c.text()).not.toMatch(/more/);
  });

  it('reports an answer done (finish, close) only once it is written, so cutting connections then loses nothing', async () => {
    // more than loopback's socket buffers hold, so most of it waits in the process
    const size = 64 * 1024 * 1024;
    const events: string[] = [];
    const port = await serve((_req, res) => {
      res.on('finish', () => events.push('finish'));
      res.on('close', () => {
        events.push('close');
        // what a graceful shutdown does once no request is in flight
        servers[0].closeAllConnections();
      });
      res.writeHead(200, ['content-length', String(size)]);
      res.end(Buffer.alloc(size, 97));
    });
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    let got = 0;
    let ended = false;
    socket.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= 1024 * 1024) socket.pause();
    });
    socket.on('close', () => (ended = true));
    socket.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => got >= 1024 * 1024, { what: 'the first MiB' });
    expect(events).toEqual([]);
    socket.removeAllListeners('data');
    socket.on('data', (d: Buffer) => (got += d.length));
    socket.resume();
    await waitFor(() => ended, { timeoutMs: 20_000, what: 'the connection closed by the server' });
    expect(events).toEqual(['finish', 'close']);
    expect(got).toBeGreaterThan(size);
  });

  it('ends the body stream of a request without a body once someone reads it, however late', async () => {
    const port = await serve((req, res) => {
      // read only after the request is complete (its end was not pushed to the stream then)
      setImmediate(() => {
        let n = 0;
        req.on('data', (d: Buffer) => (n += d.length));
        req.on('end', () => hello(req, res));
        expect(n).toBe(0);
      });
    });
    const c = connect(port);
    c.socket.write('GET /late HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => c.text().endsWith('GET /late'), { what: 'the answer after the body\'s end' });
  });

  it('sends a string body in utf-8 unless told otherwise, with a length that matches', async () => {
    const text = '{"error_msg":"café ✓"}';
    const port = await serve((req, res) => {
      if (req.url === '/end') return void res.end(text);
      res.write(text); // chunked
      res.end('é', 'latin1');
    });
    const once = await fetch(`http://127.0.0.1:${port}/end`);
    expect(once.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(await once.text()).toBe(text);
    const chunked = await fetch(`http://127.0.0.1:${port}/chunked`);
    expect(Buffer.from(await chunked.arrayBuffer())).toEqual(Buffer.concat([Buffer.from(text), Buffer.from([0xe9])]));
  });

  it('gives request headers node:http\'s shape: lower-case names, duplicates joined, dropped or listed by its rules', async () => {
    let seen: Record<string, unknown> | undefined;
    const port = await serve((req, res) => {
      seen = { ...req.headers };
      hello(req, res);
    });
    const c = connect(port);
    c.socket.write('GET /h HTTP/1.1\r\nHost: a\r\nCookie: x=1\r\ncookie: y=2\r\nX-Foo: 1\r\nx-foo: 2\r\nAge: 1\r\nage: 2\r\n' +
      'Set-Cookie: s\r\nConstructor: c\r\n__proto__: p\r\n\r\n');
    await waitFor(() => c.text().endsWith('GET /h'), { what: 'the answer' });
    expect(seen).toEqual({ host: 'a', cookie: 'x=1; y=2', 'x-foo': '1, 2', age: '1', 'set-cookie': ['s'], constructor: 'c' });
  });

  it('refuses an invalid response header as node:http does (the proxy answers 502 then)', async () => {
    let thrown: string | undefined;
    const port = await serve((_req, res) => {
      try {
        res.writeHead(200, ['x-bad', 'a\r\nb: c']);
      } catch (err) {
        thrown = (err as { code?: string }).code;
        res.writeHead(502, ['content-length', '0']);
        res.end();
      }
    });
    const c = connect(port);
    c.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => /^HTTP\/1\.1 502 /.test(c.text()), { what: 'the 502' });
    expect(thrown).toBe('ERR_INVALID_CHAR');
    expect(c.text()).not.toMatch(/x-bad/);
  });
});
