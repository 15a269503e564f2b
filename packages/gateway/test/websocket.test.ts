import './helpers/quiet-logs';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { waitFor } from '@portico/testkit';
import { httpRequest, startHarness, startServer, type Harness } from './helpers/harness';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const acceptKey = (key: string) => createHash('sha1').update(key + GUID).digest('base64');

/** One RFC 6455 frame (FIN set, payload < 64 KiB); client frames are masked (§5.3). */
function frame(opcode: number, payload: Buffer, mask: boolean): Buffer {
  const len = payload.length;
  const head = Buffer.alloc(len < 126 ? 2 : 4);
  head[0] = 0x80 | opcode;
  if (len < 126) head[1] = len;
  else {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  }
  if (!mask) return Buffer.concat([head, payload]);
  head[1] |= 0x80;
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < len; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, key, body]);
}

/** Parses complete frames off the front of `buf`; returns them and the unparsed rest. */
function parseFrames(buf: Buffer): { frames: Array<{ opcode: number; payload: Buffer }>; rest: Buffer } {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const opcode = buf[off] & 0x0f;
    const masked = (buf[off + 1] & 0x80) !== 0;
    let len = buf[off + 1] & 0x7f;
    let p = off + 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      p = off + 4;
    }
    const keyAt = p;
    if (masked) p += 4;
    if (buf.length < p + len) break;
    const payload = Buffer.from(buf.subarray(p, p + len));
    if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[keyAt + (i & 3)];
    frames.push({ opcode, payload });
    off = p + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/** A websocket echo server: text/binary frames come back unmasked; also answers plain HTTP with 426. */
async function startEchoWs() {
  const seen: http.IncomingHttpHeaders[] = [];
  const plain: http.IncomingHttpHeaders[] = [];
  const sockets: Duplex[] = [];
  const srv = await startServer((req, res) => {
    plain.push(req.headers);
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end('upgrade required');
  });
  srv.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    seen.push(req.headers);
    sockets.push(socket);
    socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${acceptKey(String(req.headers['sec-websocket-key']))}`, 'Keep-Alive: timeout=5', '', ''].join('\r\n'));
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      const { frames, rest } = parseFrames(Buffer.concat([buf, d]));
      buf = rest;
      for (const f of frames) {
        if (f.opcode === 8) return void socket.end(frame(8, Buffer.alloc(0), false));
        socket.write(frame(f.opcode, f.payload, false));
      }
    });
    socket.on('end', () => socket.end()); // the peer half-closed: finish our side too
    socket.on('error', () => undefined);
  });
  const close = async () => {
    for (const s of sockets) s.destroy(); // upgraded sockets are not the http server's any more
    await srv.close();
  };
  return { ...srv, close, seen, plain, sockets };
}

/** A raw websocket client: sends the handshake, resolves with the response head and a frame reader. */
async function wsConnect(port: number, path: string, headers: Record<string, string> = {}) {
  const key = randomBytes(16).toString('base64');
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  let buf: Buffer = Buffer.alloc(0);
  const waiters: Array<() => void> = [];
  let closed = false;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (const w of waiters.splice(0)) w();
  });
  socket.on('close', () => {
    closed = true;
    for (const w of waiters.splice(0)) w();
  });
  const more = () => new Promise<void>((resolve) => (closed ? resolve() : waiters.push(resolve)));
  while (buf.indexOf('\r\n\r\n') < 0 && !closed) await more();
  const end = buf.indexOf('\r\n\r\n');
  const head = buf.subarray(0, end).toString('latin1');
  buf = buf.subarray(end + 4);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  return {
    key,
    status,
    head,
    socket,
    get closed() {
      return closed;
    },
    /** Everything after the head once the server closed (non-101 answers). */
    async body() {
      while (!closed) await more();
      return buf.toString('utf8');
    },
    async roundTrip(payload: Buffer, opcode = 2): Promise<Buffer> {
      socket.write(frame(opcode, payload, true));
      for (;;) {
        const { frames, rest } = parseFrames(buf);
        if (frames.length > 0) {
          buf = rest;
          return frames[0].payload;
        }
        if (closed) throw new Error('closed before the echo');
        await more();
      }
    },
  };
}

describe('websocket (enable_websocket)', () => {
  let h: Harness;
  let ws: Awaited<ReturnType<typeof startEchoWs>>;

  beforeAll(async () => {
    h = await startHarness();
    ws = await startEchoWs();
  });
  afterAll(async () => {
    await h.close();
    await ws.close();
  });

  const upstream = () => ({ nodes: { [`127.0.0.1:${ws.port}`]: 1 } });

  it('echoes frames through the gateway on a route with enable_websocket', async () => {
    await h.put('routes/ws', { uri: '/ws', enable_websocket: true, upstream: upstream() });
    const c = await wsConnect(h.port, '/ws?room=1', { 'X-Hop': 'drop-me', Connection: 'Upgrade, X-Hop' });
    expect(c.status).toBe(101);
    expect(c.head).toMatch(new RegExp(`\r\nSec-WebSocket-Accept: ${acceptKey(c.key).replace(/[+/]/g, '\\$&')}\r\n`, 'i'));
    expect(c.head).toMatch(/\r\nupgrade: websocket/i);
    // Hop-by-hop headers of the upstream's 101 other than the negotiation are not relayed.
    expect(c.head).not.toMatch(/keep-alive/i);
    expect((await c.roundTrip(Buffer.from('hello'), 1)).toString()).toBe('hello');
    const big = randomBytes(40_000);
    expect((await c.roundTrip(big)).equals(big)).toBe(true);

    const sent = ws.seen[ws.seen.length - 1];
    expect(sent.upgrade).toBe('websocket');
    expect(sent.connection).toBe('upgrade');
    expect(sent['sec-websocket-key']).toBe(c.key);
    expect(sent['x-forwarded-for']).toBe('127.0.0.1');
    expect(sent['x-hop']).toBeUndefined(); // named in Connection: hop-by-hop
    expect(sent.host).toBe('ws.example');

    // Closing the client tears down the upstream side of the tunnel (its FIN is relayed).
    const upSocket = ws.sockets[ws.sockets.length - 1];
    let upClosed = false;
    upSocket.once('close', () => (upClosed = true));
    c.socket.end();
    await waitFor(() => upClosed, { what: 'upstream websocket closed' });
    await waitFor(() => h.gw.activeRequests === 0, { what: 'no request left in flight' });
    await waitFor(() => c.closed, { what: 'client side closed by the gateway' });

    const metrics = await httpRequest(h.metricsPort, '/metrics');
    expect(metrics.text).toContain('portico_http_requests_total{route="ws",code="101"} 1');
  });

  it('forwards an upgrade on a route without enable_websocket as a plain request, as APISIX does', async () => {
    await h.put('routes/plain', { uri: '/plain', upstream: upstream() });
    const before = ws.seen.length;
    const c = await wsConnect(h.port, '/plain');
    expect(c.status).toBe(426);
    expect(await c.body()).toContain('upgrade required');
    expect(ws.seen.length).toBe(before); // the upstream never saw an upgrade
    expect(ws.plain[ws.plain.length - 1].upgrade).toBeUndefined();
    expect(ws.plain[ws.plain.length - 1]['sec-websocket-key']).toBeDefined();
  });

  it('answers 404 when no route matches an upgrade', async () => {
    const c = await wsConnect(h.port, '/nowhere');
    expect(c.status).toBe(404);
    expect(JSON.parse(await c.body())).toEqual({ error_msg: '404 Route Not Found' });
  });

  it('runs the route plugins before upgrading (key-auth rejects a keyless handshake)', async () => {
    await h.put('routes/ws-auth', { uri: '/ws-auth', enable_websocket: true, plugins: { 'key-auth': {} }, upstream: upstream() });
    const before = ws.seen.length;
    const c = await wsConnect(h.port, '/ws-auth');
    expect(c.status).toBe(401);
    expect(JSON.parse(await c.body())).toEqual({ message: 'Missing API key in request' });
    expect(ws.seen.length).toBe(before);
  });

  it('closes a tunnel idle for longer than the route read timeout', async () => {
    await h.put('routes/ws-idle', { uri: '/ws-idle', enable_websocket: true, timeout: { read: 0.3 }, upstream: upstream() });
    const c = await wsConnect(h.port, '/ws-idle');
    expect(c.status).toBe(101);
    const t0 = performance.now();
    expect((await c.roundTrip(Buffer.from('still here'), 1)).toString()).toBe('still here');
    await waitFor(() => c.closed, { what: 'the idle tunnel closed' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('gateway stop cuts live tunnels instead of hanging on them', async () => {
    const h2 = await startHarness();
    let stopped = false;
    try {
      await h2.put('routes/ws', { uri: '/ws', enable_websocket: true, upstream: upstream() });
      const c = await wsConnect(h2.port, '/ws');
      expect(c.status).toBe(101);
      await h2.close(); // would never resolve if the server waited for the upgraded socket
      stopped = true;
      await waitFor(() => c.closed, { what: 'the client connection cut' });
    } finally {
      if (!stopped) await h2.close();
    }
  });

  it('answers 502 when the websocket upstream refuses connections', async () => {
    const dead = await startServer(() => undefined);
    const port = dead.port;
    await dead.close();
    await h.put('routes/ws-dead', { uri: '/ws-dead', enable_websocket: true, upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } } });
    const c = await wsConnect(h.port, '/ws-dead');
    expect(c.status).toBe(502);
    expect(JSON.parse(await c.body())).toEqual({ error_msg: 'failed to connect to upstream' });
  });
});
