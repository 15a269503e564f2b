import http from 'node:http';
import net from 'node:net';
import { startEchoUpstream, startPortico, waitFor, type EchoUpstream, type PorticoProcess } from '@portico/testkit';
import { startHangingPort } from '../../gateway/test/helpers/hanging-port';

/**
 * The data plane's HTTP server as a real `portico start` process, with the own server and with
 * node:http's (PORTICO_HTTP_SERVER=node): every way a client can leave, at every phase of a
 * request, must leave the process and the other connections answering; a shutdown must answer
 * what it received; a client that stops reading must not hold its upstream request.
 */
jest.setTimeout(120_000);

const KINDS: Array<[string, NodeJS.ProcessEnv]> = [['own', {}], ['node', { PORTICO_HTTP_SERVER: 'node' }]];
/** The abort shapes also with two proxy workers. */
const PROCESSES = [['own', 1, {}], ['node', 1, { PORTICO_HTTP_SERVER: 'node' }], ['own', 2, {}]] as const;

interface Raw {
  socket: net.Socket;
  text: () => string;
  closed: () => boolean;
  /** The server closed cleanly (FIN seen), not by a reset. */
  ended: () => boolean;
  reset: () => boolean;
}

const opened: net.Socket[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.destroy();
});

function raw(url: string): Raw {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  opened.push(socket);
  let text = '';
  let closed = false;
  let ended = false;
  let reset = false;
  socket.on('data', (d) => (text += d.toString('latin1')));
  socket.on('end', () => (ended = true));
  socket.on('error', (e: Error & { code?: string }) => (reset = reset || e.code === 'ECONNRESET'));
  socket.on('close', () => (closed = true));
  return { socket, text: () => text, closed: () => closed, ended: () => ended, reset: () => reset };
}

async function admin(p: PorticoProcess, path: string, body: unknown): Promise<void> {
  const r = await fetch(`${p.adminUrl}/apisix/admin/${path}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  if (r.status >= 300) throw new Error(`PUT ${path}: ${r.status} ${await r.text()}`);
}

const nodes = (port: number) => ({ type: 'roundrobin', nodes: { [`127.0.0.1:${port}`]: 1 } });

/** Answers on the wire so far (complete or not). */
const answers = (text: string): number => (text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length;

/** One complete request/answer on `c`, a kept-alive connection. */
async function roundTrip(c: Raw, path = '/anything/alive'): Promise<void> {
  const before = answers(c.text());
  c.socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
  await waitFor(() => answers(c.text()) > before && c.text().endsWith('}'), { what: `an answer to ${path} on the kept connection` });
}

describe.each(PROCESSES)('the %s server in a portico process with %i worker(s)', (kind, workers, env) => {
  let echo: EchoUpstream;
  let hanging: { port: number; close: () => void };
  let stalls: http.Server;
  /** /forever requests the upstream saw cut before their end. */
  let foreverCut = 0;
  let p: PorticoProcess;

  beforeAll(async () => {
    echo = await startEchoUpstream({ name: 'echo' });
    hanging = await startHangingPort();
    // /sse: a head and nothing more; /forever: an endless body (counts the requests cut)
    stalls = http.createServer((req, res) => {
      if (req.url === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        return void res.flushHeaders();
      }
      res.on('close', () => foreverCut++);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((r) => stalls.listen(0, '127.0.0.1', r));
    const stallPort = (stalls.address() as net.AddressInfo).port;
    p = await startPortico({ name: `abort-${kind}-${workers}`, role: 'traditional', env, extraConfig: { apisix: { workers, http: { send_timeout: 1 } } } });
    await admin(p, 'routes/echo', { uri: '/anything*', upstream: nodes(echo.port) });
    await admin(p, 'routes/stream', { uri: '/stream/*', upstream: nodes(echo.port) });
    await admin(p, 'routes/keyed', { uri: '/keyed*', plugins: { 'key-auth': {} }, upstream: nodes(echo.port) });
    await admin(p, 'consumers/jack', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });
    await admin(p, 'routes/hang', { uri: '/hang*', upstream: { ...nodes(hanging.port), timeout: { connect: 30, send: 30, read: 30 } } });
    await admin(p, 'routes/stalls', { uris: ['/sse', '/forever'], upstream: nodes(stallPort) });
    await waitFor(async () => (await fetch(`${p.proxyUrl}/keyed`)).status === 401, { what: 'the routes applied' });
  });

  afterAll(async () => {
    await p?.stop();
    await echo?.close();
    hanging?.close();
    stalls?.closeAllConnections();
    await new Promise<void>((r) => stalls?.close(() => r()));
  });

  it('survives every abort shape at every phase of a request, and its other connections go on', async () => {
    const kept = raw(p.proxyUrl);
    await roundTrip(kept);
    const post = (path: string) => `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc`;
    // Each phase: what to send, and the point to reach before the client leaves.
    const phases: Array<[string, string, (c: Raw) => boolean]> = [
      ['during the head', 'GET /anything HTTP/1.1\r\nHost: a\r\nX-Partial: yes', () => true],
      ['during the body (the upstream reading it)', post('/anything/body'), () => true],
      ['during the body, after a 404', post('/nothing'), (c) => c.text().startsWith('HTTP/1.1 404')],
      ['during the body, after a 401', post('/keyed'), (c) => c.text().startsWith('HTTP/1.1 401')],
      ['during a malformed chunked body', 'POST /anything HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', () => true],
      ['while the upstream is connecting', post('/hang'), () => true],
      ['while the upstream streams', 'GET /stream/50000000 HTTP/1.1\r\nHost: a\r\n\r\n', (c) => c.text().length > 100_000],
      ['after the answer', 'GET /anything/x HTTP/1.1\r\nHost: a\r\n\r\n', (c) => c.text().endsWith('}')],
      ['pipelined', `GET /anything/1 HTTP/1.1\r\nHost: a\r\n\r\n${post('/nothing')}GET /anything/2 HTTP/1.1\r\nHost: a\r\n\r\n${post('/hang')}`,
        (c) => c.text().includes('"url":"/anything/1"')],
    ];
    const shapes: Array<[string, (s: net.Socket) => void]> = [
      ['close', (s) => s.destroy()],
      ['reset', (s) => s.resetAndDestroy()],
      ['half-close', (s) => s.end()],
    ];
    for (const [phase, bytes, reached] of phases) {
      for (const [_shape, leave] of shapes) {
        const c = raw(p.proxyUrl);
        c.socket.write(bytes);
        await waitFor(() => reached(c), { what: `${phase}: the point to leave at` });
        // A barrier: a request on another connection answered after these bytes were sent.
        await roundTrip(raw(p.proxyUrl));
        leave(c.socket);
        await roundTrip(kept);
        expect(p.pid).toBeDefined();
      }
    }
    expect(kept.closed()).toBe(false);
    expect((await fetch(`${p.proxyUrl}/anything/end`)).status).toBe(200);
  });

  it('never lets chunked trailers into the next request: a keyless request to a key-auth route stays 401', async () => {
    const c = raw(p.proxyUrl);
    c.socket.write('POST /anything/attacker HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n' +
      'Host: attacker.example\r\napikey: jack-key\r\n\r\n');
    await waitFor(() => c.text().endsWith('}'), { what: 'the first answer' });
    c.socket.write('GET /keyed/victim HTTP/1.1\r\nHost: victim.example\r\n\r\n');
    await waitFor(() => answers(c.text()) === 2 && /\r\n\r\n[^]*\}$/.test(c.text().split('HTTP/1.1 ')[2] ?? ''), { what: 'the second answer' });
    expect(c.text().split('HTTP/1.1 ')[2]).toMatch(/^401 /);
  });

  it('answers 400 to a duplicate or invalid Host, and sends an absolute-form target\'s authority upstream as Host', async () => {
    for (const host of ['Host: a\r\nHost: b', 'Host: a b', 'Host: a/b']) {
      const c = raw(p.proxyUrl);
      c.socket.write(`GET /anything HTTP/1.1\r\n${host}\r\n\r\n`);
      await waitFor(() => c.closed(), { what: `the close after ${JSON.stringify(host)}` });
      expect(c.text()).toMatch(/^HTTP\/1\.1 400 /);
    }
    const c = raw(p.proxyUrl);
    c.socket.write('GET http://abs.example:8080/anything/abs HTTP/1.1\r\nHost: other.example\r\n\r\n');
    await waitFor(() => c.text().endsWith('}'), { what: 'the answer' });
    const echoed = JSON.parse(c.text().slice(c.text().indexOf('\r\n\r\n') + 4));
    expect(echoed.url).toBe('/anything/abs');
    expect(echoed.headers.host).toBe('abs.example:8080');
    expect(echoed.headers['x-forwarded-host']).toBe('abs.example:8080');
  });

  it('sends the head of an answer whose body has not begun (server-sent events)', async () => {
    const c = raw(p.proxyUrl);
    c.socket.write('GET /sse HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => c.text().includes('\r\n\r\n'), { what: 'the head' });
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 [^]*content-type: text\/event-stream\r\n/i);
  });

  it('closes the connection of a client that stops reading, after the send timeout, and cancels its upstream request', async () => {
    const before = foreverCut;
    const c = raw(p.proxyUrl);
    c.socket.pause(); // reads nothing
    c.socket.write('GET /forever HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => foreverCut > before, { timeoutMs: 20_000, what: 'the upstream request cancelled' });
    expect(p.pid).toBeDefined();
  });
});

describe.each(KINDS)('graceful shutdown of a portico process with the %s server', (kind, env) => {
  // (two workers with the own server only: starting a process is most of this suite's time)
  const workerCounts = kind === 'own' ? [1, 2] : [1];
  let echo: EchoUpstream;

  beforeAll(async () => {
    echo = await startEchoUpstream({ name: 'echo' });
  });
  afterAll(async () => {
    await echo?.close();
  });

  it.each(workerCounts)('with %i worker(s): answers every request in flight with Connection: close, closes idle connections cleanly', async (workers) => {
    const p = await startPortico({ name: `drain-${kind}-${workers}`, role: 'traditional', env, extraConfig: { apisix: { workers } } });
    try {
      await admin(p, 'routes/echo', { uri: '/*', upstream: nodes(echo.port) });
      await waitFor(async () => (await fetch(`${p.proxyUrl}/anything`)).status === 200, { what: 'the route applied' });
      const conns = Array.from({ length: 8 }, () => raw(p.proxyUrl));
      for (const c of conns) await roundTrip(c);
      const busy = conns.slice(0, 4);
      const idle = conns.slice(4, 7);
      const racing = conns[7];
      const base = echo.requests;
      for (const c of busy) c.socket.write('GET /delay/1500 HTTP/1.1\r\nHost: a\r\n\r\n');
      // (the echo upstream has them: each answer is on its way once the delay is over)
      await waitFor(() => echo.requests >= base + 4, { what: 'the slow requests at the upstream' });
      racing.socket.write('GET /anything/racing HTTP/1.1\r\nHost: a\r\n\r\n');
      const stopped = p.stop();
      for (const c of [...busy, ...idle, racing]) await waitFor(() => c.closed(), { timeoutMs: 20_000, what: 'every connection closed' });
      expect(await stopped).toBe(0);
      for (const c of busy) {
        expect(answers(c.text())).toBe(2);
        expect(c.text().split('HTTP/1.1 200')[2]).toMatch(/\r\nConnection: close\r\n[^]*"url":"\/delay\/1500"/i);
        expect(c.reset()).toBe(false);
      }
      for (const c of idle) {
        expect(answers(c.text())).toBe(1);
        expect(c.ended()).toBe(true);
        expect(c.reset()).toBe(false);
      }
      // the request sent just before the signal: answered, or never read (the connection closed
      // cleanly with nothing lost mid-answer)
      expect(racing.reset()).toBe(false);
      expect(answers(racing.text())).toBe(2);
      expect(racing.text()).toMatch(/"url":"\/anything\/racing"/);
    } finally {
      await p.kill();
    }
  });
});
