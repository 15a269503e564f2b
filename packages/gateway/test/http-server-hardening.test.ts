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
