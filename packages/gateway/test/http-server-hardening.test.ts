import http from 'node:http';
import net from 'node:net';
import { waitFor } from '@portico/testkit';
import { H1Server, type H1ServerOptions, type RequestListener } from '@portico/http1';

/**
 * What both data-plane servers (the own h1/server.ts and node:http's, PORTICO_HTTP_SERVER=node)
 * must do with hostile or unlucky clients, on real sockets: no abort may take the process down
 * (an unhandled 'error' here fails the test run), and no byte of one request may reach another.
 */
// (the own server's request and response have the part of node's the proxy uses: client-http.ts)
type Req = http.IncomingMessage;
type Res = http.ServerResponse;
type Listener = (req: Req, res: Res) => void;

interface Closable {
  closeAllConnections(): void;
  close(cb: () => void): unknown;
}

const servers: Closable[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

const OPTIONS: H1ServerOptions = { keepAliveTimeout: 5000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 };

/** Open connections of the last server `serve` started. */
let openConnections: () => Promise<number> = async () => 0;

async function serve(kind: 'own' | 'node', onRequest: Listener, opts: Partial<H1ServerOptions> = {}): Promise<number> {
  const o = { ...OPTIONS, ...opts };
  let server: (H1Server | http.Server) & Closable;
  if (kind === 'own') server = new H1Server(o, onRequest as unknown as RequestListener, (_r, s) => s.destroy());
  else {
    server = http.createServer({ keepAliveTimeout: o.keepAliveTimeout, headersTimeout: o.headersTimeout, requestTimeout: 0,
      maxHeaderSize: o.maxHeaderSize }, onRequest);
  }
  servers.push(server);
  const s = server;
  openConnections = s instanceof H1Server ? async () => s.connectionCount
    : () => new Promise((resolve, reject) => s.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

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

const answer = (req: Req, res: Res): void => {
  const body = `${req.method} ${req.url} host=${req.headers.host ?? '-'} auth=${req.headers.authorization ?? '-'}`;
  res.writeHead(200, ['content-type', 'text/plain', 'content-length', String(body.length)]);
  res.end(body);
};

/** A request on a fresh connection gets its answer: the server (and process) still work. */
async function stillAnswers(port: number): Promise<void> {
  const c = connect(port);
  c.socket.write('GET /alive HTTP/1.1\r\nHost: a\r\n\r\n');
  await waitFor(() => c.text().includes('GET /alive'), { what: 'an answer on a new connection' });
}

describe.each(['own', 'node'] as const)('the %s HTTP/1.1 server', (kind) => {
  describe('a client that leaves before its request body is complete, while nothing reads the body', () => {
    const shapes: Array<[string, string]> = [
      ['a Content-Length body cut short', 'POST /anything HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc'],
      ['a chunked body cut short', 'POST /anything HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'],
    ];

    it.each(shapes)('after the answer: %s', async (_name, bytes) => {
      const port = await serve(kind, (req, res) => {
        if (req.url === '/alive') return answer(req, res);
        res.writeHead(404, ['content-length', '0']);
        res.end();
      });
      const c = connect(port);
      c.socket.write(bytes);
      await waitFor(() => c.text().startsWith('HTTP/1.1 404'), { what: 'the 404' });
      c.socket.destroy();
      await waitFor(async () => (await openConnections()) === 0, { what: 'the server saw the connection go' });
      await stillAnswers(port);
    });

    it.each(shapes)('before any answer (the upstream still connecting): %s', async (_name, bytes) => {
      const events: string[] = [];
      let held: Res | undefined;
      const port = await serve(kind, (req, res) => {
        if (req.url === '/alive') return answer(req, res);
        held = res;
        req.on('aborted', () => events.push('aborted'));
        res.on('close', () => events.push('response close'));
      });
      const c = connect(port);
      c.socket.write(bytes);
      await waitFor(() => held !== undefined, { what: 'the request handed over' });
      c.socket.destroy();
      await waitFor(() => events.includes('response close') && events.includes('aborted'), { what: 'the abort told' });
      await stillAnswers(port);
    });

    it('a malformed chunk (the server cuts the connection itself)', async () => {
      let closed = false;
      const port = await serve(kind, (req, res) => {
        if (req.url === '/alive') return answer(req, res);
        req.on('close', () => (closed = true));
      });
      const c = connect(port);
      c.socket.write('POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
      await waitFor(() => c.closed() && closed, { what: 'the connection and the request closed' });
      await stillAnswers(port);
    });

    it('a reader that listens for errors is still told (ECONNRESET), as node:http tells it', async () => {
      let code: string | undefined;
      let got = 0;
      const port = await serve(kind, (req) => {
        req.on('error', (err: Error & { code?: string }) => (code = err.code));
        req.on('data', (d: Buffer) => (got += d.length));
      });
      const c = connect(port);
      c.socket.write('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
      await waitFor(() => got === 3, { what: 'the first body bytes read' });
      c.socket.destroy();
      await waitFor(() => code !== undefined, { what: 'the error' });
      expect(code).toBe('ECONNRESET');
    });
  });

  it('never lets a chunked body\'s trailers or request-target into the next request on the connection', async () => {
    const seen: Array<{ url: string; headers: http.IncomingHttpHeaders; raw: string[] }> = [];
    const port = await serve(kind, (req, res) => {
      seen.push({ url: req.url!, headers: { ...req.headers }, raw: [...req.rawHeaders] });
      req.resume();
      req.on('end', () => answer(req, res));
    });
    const c = connect(port);
    c.socket.write('POST /attacker HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n' +
      'Host: attacker.example\r\nAuthorization: Bearer attacker\r\n\r\n');
    await waitFor(() => c.text().includes('POST /attacker'), { what: 'the first answer' });
    c.socket.write('GET /victim HTTP/1.1\r\nHost: victim.example\r\nCookie: v=1\r\n\r\n');
    await waitFor(() => c.text().includes('GET /victim'), { what: 'the second answer' });
    expect(seen.map((s) => s.url)).toEqual(['/attacker', '/victim']);
    expect(seen[1].raw).toEqual(['Host', 'victim.example', 'Cookie', 'v=1']);
    expect(seen[1].headers.authorization).toBeUndefined();
    // and when both arrive in one read
    const d = connect(port);
    d.socket.write('POST /attacker HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n' +
      'Host: attacker.example\r\nAuthorization: Bearer attacker\r\n\r\nGET /victim2 HTTP/1.1\r\nHost: v\r\n\r\n');
    await waitFor(() => d.text().includes('GET /victim2'), { what: 'the pipelined answer' });
    expect(seen[3].url).toBe('/victim2');
    expect(seen[3].raw).toEqual(['Host', 'v']);
  });
});

describe('the own HTTP/1.1 server (behaviour node:http does not have)', () => {
  it('dispatches no more than its pipelining limit, even when every request arrived in one read', async () => {
    const waiting: Array<() => void> = [];
    let seen = 0;
    let answerAtOnce = false;
    const port = await serve('own', (req, res) => {
      seen++;
      if (answerAtOnce) answer(req, res);
      else waiting.push(() => answer(req, res));
    });
    const c = connect(port);
    const one = 'GET /p HTTP/1.1\r\nHost: a\r\n\r\n';
    const total = Math.ceil((82 * 1024) / one.length);
    c.socket.write(one.repeat(total));
    await waitFor(() => c.socket.writableLength === 0 && seen > 0, { what: 'the requests sent' });
    // Every byte has left the client; the count must stay at the limit however long one waits.
    await waitFor(async () => {
      const before = seen;
      await new Promise<void>((r) => setImmediate(r));
      return seen === before;
    }, { what: 'dispatching to stop' });
    expect(seen).toBeLessThanOrEqual(32);
    answerAtOnce = true;
    for (const a of waiting.splice(0)) a();
    await waitFor(() => (c.text().match(/GET \/p/g) ?? []).length === total, { timeoutMs: 20_000, what: 'every answer' });
    expect(seen).toBe(total);
  });

  it('keeps the limit when the limit is reached by a request with a body, and still reads that body', async () => {
    const waiting: Array<() => void> = [];
    const bodies: string[] = [];
    const port = await serve('own', (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        bodies.push(body);
        if (req.url === '/hold') waiting.push(() => answer(req, res));
        else answer(req, res);
      });
    });
    const c = connect(port);
    const hold = 'GET /hold HTTP/1.1\r\nHost: a\r\n\r\n';
    c.socket.write(hold.repeat(31) + 'POST /last HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /after HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    await waitFor(() => bodies.length === 31, { what: 'the held requests' });
    for (const a of waiting.splice(0)) a();
    await waitFor(() => c.text().includes('POST /after'), { what: 'the last answers' });
    expect(bodies.slice(31)).toEqual(['hello', 'abc']);
    expect([...c.text().matchAll(/(GET|POST) (\/\w+)/g)].map((m) => m[2]).slice(30)).toEqual(['/hold', '/last', '/after']);
  });

  it('dispatches nothing pipelined behind an answer that closes the connection', async () => {
    const urls: string[] = [];
    const port = await serve('own', (req, res) => {
      urls.push(req.url!);
      if (req.url === '/closing') {
        res.writeHead(200, ['connection', 'close', 'content-length', '0']);
        return void res.end();
      }
      answer(req, res);
    });
    const cases = [
      // a 400 (no Host), a request that asks to close, an HTTP/1.0 one without keep-alive
      'GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /no-host HTTP/1.1\r\n\r\nGET /behind HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /behind HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /c HTTP/1.0\r\n\r\nGET /behind HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET /closing HTTP/1.1\r\nHost: a\r\n\r\nGET /behind HTTP/1.1\r\nHost: a\r\n\r\n',
    ];
    for (const bytes of cases) {
      const c = connect(port);
      c.socket.write(bytes);
      await waitFor(() => c.closed(), { what: `the close after ${JSON.stringify(bytes.slice(0, 20))}` });
      expect(c.text()).not.toMatch(/behind/);
    }
    expect(urls).toEqual(['/a', '/b', '/c', '/closing']);
  });

  it('abandons, at once, requests already dispatched behind an answer that turns out to close the connection', async () => {
    let behindClosed = false;
    let release: (() => void) | undefined;
    const port = await serve('own', (req, res) => {
      if (req.url === '/first') {
        release = () => {
          res.writeHead(200, ['connection', 'close', 'content-length', '0']);
          res.end();
        };
        return;
      }
      res.on('close', () => (behindClosed = true)); // held: never answered
    });
    const c = connect(port);
    c.socket.write('GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => release !== undefined, { what: 'the first request' });
    // (the second one is dispatched too: its answer could have been the keep-alive kind)
    release!();
    await waitFor(() => behindClosed, { what: 'the request behind told its answer is moot' });
    await waitFor(() => c.closed(), { what: 'the close' });
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n[^]*\r\n\r\n$/);
  });

  it('refuses a duplicate or invalid Host with 400 and closes, and takes every valid form', async () => {
    const hosts: string[] = [];
    const port = await serve('own', (req, res) => {
      hosts.push(req.headers.host ?? '(none)');
      answer(req, res);
    });
    const bad = ['Host: a\r\nHost: b', 'Host: a\r\nhost: a', 'Host: a b', 'Host: a/b', 'Host: user@a', 'Host: a:b:c', 'Host: [::1', 'Host: a\tb'];
    for (const h of bad) {
      const c = connect(port);
      c.socket.write(`GET /x HTTP/1.1\r\n${h}\r\n\r\nGET /behind HTTP/1.1\r\nHost: a\r\n\r\n`);
      await waitFor(() => c.closed(), { what: `the close after ${JSON.stringify(h)}` });
      expect(c.text()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n/);
      expect(c.text()).not.toMatch(/behind/);
    }
    expect(hosts).toEqual([]);
    const good = ['a.example', 'A.Example:8080', '[::1]:9080', '127.0.0.1', 'a_b-c.example', 'xn--bcher-kva.example', ''];
    const c = connect(port);
    c.socket.write(good.map((h) => `GET /ok HTTP/1.1\r\nHost: ${h}\r\n\r\n`).join(''));
    await waitFor(() => (c.text().match(/GET \/ok/g) ?? []).length === good.length, { what: 'the valid ones answered' });
    expect(hosts).toEqual(good);
  });

  describe('drain (graceful shutdown)', () => {
    it('answers every request received, the last one on a connection with Connection: close, and closes idle connections cleanly', async () => {
      const held: Array<() => void> = [];
      const port = await serve('own', (req, res) => {
        if (req.url === '/slow') held.push(() => answer(req, res));
        else answer(req, res);
      });
      const server = servers[servers.length - 1] as H1Server;
      const idle = connect(port);
      const busy = connect(port);
      const racing = connect(port);
      for (const c of [idle, racing]) c.socket.write('GET /first HTTP/1.1\r\nHost: a\r\n\r\n');
      busy.socket.write('GET /slow HTTP/1.1\r\nHost: a\r\n\r\n');
      await waitFor(() => idle.text().includes('GET /first') && racing.text().includes('GET /first') && held.length === 1,
        { what: 'the first answers and the slow request' });
      let idleEnded = false;
      idle.socket.on('end', () => (idleEnded = true));
      let racingEnded = false;
      racing.socket.on('end', () => (racingEnded = true));
      // The next request is on the wire (in the server's socket buffer, not read yet) when the
      // shutdown begins: it must be answered, not reset.
      racing.socket.write('GET /second HTTP/1.1\r\nHost: a\r\n\r\n');
      server.drain();
      const closed = new Promise<void>((r) => server.close(r));
      await waitFor(() => idle.closed(), { what: 'the idle connection closed' });
      expect(idleEnded).toBe(true); // a FIN, not a reset
      await waitFor(() => racing.closed(), { what: 'the racing connection answered and closed' });
      // (answered at once, from inside the parser, it cannot know whether more follows: the
      // connection is closed as idle right after instead)
      expect(racing.text().split('HTTP/1.1 200').length).toBe(3);
      expect(racing.text()).toMatch(/GET \/second host=a auth=-$/);
      expect(racingEnded).toBe(true);
      expect(busy.closed()).toBe(false);
      held[0]();
      await waitFor(() => busy.closed(), { what: 'the slow request answered and its connection closed' });
      expect(busy.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n[^]*GET \/slow host=a auth=-$/);
      await closed;
    });
  });

  it('sends a response head as soon as it is written, before any body (server-sent events, long polls)', async () => {
    let res: Res | undefined;
    const port = await serve('own', (_req, r) => {
      res = r;
      r.writeHead(200, ['content-type', 'text/event-stream']);
    });
    const c = connect(port);
    c.socket.write('GET /events HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => c.text().endsWith('\r\n\r\n'), { what: 'the head' });
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\ncontent-type: text\/event-stream\r\n[^]*Transfer-Encoding: chunked\r\n\r\n$/);
    res!.write('data: 1\n\n');
    await waitFor(() => c.text().endsWith('data: 1\n\n\r\n'), { what: 'the first event' });
  });
});
