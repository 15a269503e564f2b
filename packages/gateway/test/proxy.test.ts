import './helpers/quiet-logs';
import http from 'node:http';
import net from 'node:net';
import { freePort, startEchoUpstream, waitFor, type EchoUpstream } from '@portico/testkit';
import { startHangingPort } from './helpers/hanging-port';
import { ownClientOnly, undiciFallbackOnly } from './helpers/fallbacks';
import { answerOnceThenDrop, expectRaceLost, expectRaceSaved } from './helpers/race-node';
import { httpRequest, startHarness, startServer, type Harness } from './helpers/harness';

const MB = 1024 * 1024;

describe('proxy', () => {
  let h: Harness;
  let echo: EchoUpstream;

  beforeAll(async () => {
    h = await startHarness();
    echo = await startEchoUpstream({ name: 'echo' });
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
  });

  const upstreamOf = (...ups: Array<{ port: number }>) => ({ nodes: Object.fromEntries(ups.map((u) => [`127.0.0.1:${u.port}`, 1])) });

  it('answers 404 with the APISIX body when no route matches', async () => {
    const r = await h.request('/nothing-here');
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json()).toEqual({ error_msg: '404 Route Not Found' });
  });

  it('forwards method, path and query, sets X-Forwarded-* and X-Real-IP, passes Host by default', async () => {
    await h.put('routes/basic', { uri: '/anything*', upstream: upstreamOf(echo) });
    const r = await h.request('/anything/x?a=1&b=two', {
      method: 'POST',
      headers: { host: 'client.example:8080', 'x-forwarded-for': '10.0.0.1', 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(r.status).toBe(200);
    expect(r.headers['x-echo-name']).toBe('echo');
    const e = r.json();
    expect(e).toMatchObject({ method: 'POST', url: '/anything/x?a=1&b=two', body: 'hello', bodyLength: 5 });
    expect(e.headers).toMatchObject({
      host: 'client.example:8080',
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'client.example:8080',
      'x-forwarded-port': String(h.port),
      'x-real-ip': '127.0.0.1',
      'content-type': 'text/plain',
      'content-length': '5',
    });
  });

  it('strips hop-by-hop request headers, including those named in Connection', async () => {
    const r = await h.request('/anything', {
      headers: {
        connection: 'keep-alive, X-Private-Hop',
        'x-private-hop': 'secret',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        upgrade: 'h2c',
        'x-kept': 'yes',
      },
    });
    const hdrs = r.json().headers;
    for (const h2 of ['x-private-hop', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']) expect(hdrs[h2]).toBeUndefined();
    expect(hdrs['x-kept']).toBe('yes');
  });

  it('streams a chunked request body (Transfer-Encoding is re-framed, not forwarded)', async () => {
    const r = await new Promise<any>((resolve, reject) => {
      const req = http.request({ port: h.port, host: '127.0.0.1', path: '/anything', method: 'PUT', agent: false }, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve(JSON.parse(t)));
      });
      req.on('error', reject);
      req.write('part1-');
      req.end('part2');
    });
    expect(r.body).toBe('part1-part2');
  });

  it('strips hop-by-hop response headers', async () => {
    const up = await startServer((_req, res) => {
      res.writeHead(200, {
        connection: 'X-Resp-Hop',
        'x-resp-hop': '1',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'close',
        trailer: 'x-trailer',
        'x-resp-kept': '1',
        'set-cookie': ['a=1', 'b=2'],
      });
      res.end('ok');
    });
    try {
      await h.put('routes/resp-hop', { uri: '/resp-hop', upstream: upstreamOf(up) });
      const r = await h.request('/resp-hop');
      expect(r.status).toBe(200);
      expect(r.text).toBe('ok');
      expect(r.headers['x-resp-hop']).toBeUndefined();
      expect(r.headers['keep-alive']).toBeUndefined();
      expect(r.headers['proxy-connection']).toBeUndefined();
      expect(r.headers.trailer).toBeUndefined();
      expect(r.headers['x-resp-kept']).toBe('1');
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    } finally {
      await up.close();
    }
  });

  it('pass_host node and rewrite', async () => {
    await h.put('routes/ph-node', { uri: '/ph-node', upstream: { ...upstreamOf(echo), pass_host: 'node' } });
    await h.put('routes/ph-rw', { uri: '/ph-rw', upstream: { ...upstreamOf(echo), pass_host: 'rewrite', upstream_host: 'internal.svc' } });
    expect((await h.request('/ph-node', { headers: { host: 'outside' } })).json().headers.host).toBe(`127.0.0.1:${echo.port}`);
    expect((await h.request('/ph-rw', { headers: { host: 'outside' } })).json().headers.host).toBe('internal.svc');
  });

  it('relays upstream status codes and HEAD', async () => {
    await h.put('routes/status', { uri: '/status/*', upstream: upstreamOf(echo) });
    expect((await h.request('/status/418')).status).toBe(418);
    const r204 = await h.request('/status/204');
    expect(r204.status).toBe(204);
    expect(r204.text).toBe('');
    const head = await h.request('/status/200', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect(head.text).toBe('');
  });

  it('502 when the node refuses connections, when it drops them, and when no node is usable', async () => {
    const dead = await freePort();
    await h.put('routes/refused', { uri: '/refused', upstream: { nodes: { [`127.0.0.1:${dead}`]: 1 } } });
    const refused = await h.request('/refused');
    expect(refused.status).toBe(502);
    expect(refused.json()).toEqual({ error_msg: 'failed to connect to upstream' });

    await h.put('routes/close', { uri: '/close', upstream: upstreamOf(echo) });
    const dropped = await h.request('/close');
    expect(dropped.status).toBe(502);
    expect(dropped.json().error_msg).toMatch(/upstream/);

    await h.put('routes/zero', { uri: '/zero', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 0 } } });
    const none = await h.request('/zero');
    expect(none.status).toBe(502);
    expect(none.json()).toEqual({ error_msg: 'no valid upstream node' });

    await h.put('routes/missing-up', { uri: '/missing-up', upstream_id: 'nope' });
    expect((await h.request('/missing-up')).status).toBe(502);
  });

  it('504 when the upstream does not answer within the read timeout (route overrides upstream)', async () => {
    await h.put('upstreams/slow', { ...upstreamOf(echo), timeout: { read: 30 } });
    await h.put('routes/slow', { uri: '/delay/*', upstream_id: 'slow', timeout: { read: 0.2 } });
    const started = Date.now();
    const r = await h.request('/delay/3000');
    expect(r.status).toBe(504);
    expect(r.json()).toEqual({ error_msg: 'upstream timed out' });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('balances by smooth weighted round robin', async () => {
    const a = await startEchoUpstream({ name: 'a' });
    const b = await startEchoUpstream({ name: 'b' });
    try {
      await h.put('upstreams/wrr', { nodes: [{ host: '127.0.0.1', port: a.port, weight: 3 }, { host: '127.0.0.1', port: b.port, weight: 1 }] });
      await h.put('routes/wrr', { uri: '/wrr', upstream_id: 'wrr' });
      const names: string[] = [];
      for (let i = 0; i < 12; i++) names.push((await h.request('/wrr')).headers['x-echo-name'] as string);
      expect(names.filter((n) => n === 'a')).toHaveLength(9);
      expect(names.filter((n) => n === 'b')).toHaveLength(3);
      expect(names.slice(0, 4)).toEqual(['a', 'a', 'b', 'a']); // smooth: spread, not bunched
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('retries another node when one refuses, and only as often as allowed', async () => {
    const dead = await freePort();
    const nodes = { [`127.0.0.1:${dead}`]: 1, [`127.0.0.1:${echo.port}`]: 1 };
    await h.put('routes/retry', { uri: '/retry', upstream: { nodes } });
    for (let i = 0; i < 6; i++) expect((await h.request('/retry')).status).toBe(200);
    await h.put('routes/retry', { uri: '/retry', upstream: { nodes, retries: 0 } });
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await h.request('/retry')).status);
    expect(statuses.filter((s) => s === 502)).toHaveLength(3);
  });

  ownClientOnly('a node that never accepts the connection: 504 alone, and a POST with a body moves to the next node', async () => {
    const hang = await startHangingPort();
    try {
      // the hanging node is picked first (weight), the echo node is the retry
      await h.put('routes/hang', { uri: '/hang', timeout: { connect: 0.3 }, upstream: { nodes: { [`127.0.0.1:${hang.port}`]: 100, [`127.0.0.1:${echo.port}`]: 1 } } });
      const r = await h.request('/hang', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'payload' });
      expect(r.status).toBe(200);
      expect(r.json()).toMatchObject({ method: 'POST', body: 'payload' });
      await h.put('routes/hang-only', { uri: '/hang-only', timeout: { connect: 0.3 }, upstream: { nodes: { [`127.0.0.1:${hang.port}`]: 1 } } });
      const alone = await h.request('/hang-only');
      expect(alone.status).toBe(504);
      expect(alone.json()).toEqual({ error_msg: 'upstream timed out' });
    } finally {
      hang.close();
    }
  });

  it('does not retry a request whose body was already sent', async () => {
    let hits = 0;
    const dropper = await startServer((req) => {
      hits++;
      req.on('data', () => undefined);
      req.on('end', () => req.socket.destroy());
    });
    try {
      const nodes = { [`127.0.0.1:${dropper.port}`]: 1, [`127.0.0.1:${echo.port}`]: 0 };
      await h.put('routes/noretry', { uri: '/noretry', upstream: { nodes: { ...nodes, [`127.0.0.1:${dropper.port}`]: 1 }, retries: 3 } });
      const r = await h.request('/noretry', { method: 'POST', body: 'payload' });
      expect(r.status).toBe(502);
      expect(hits).toBe(1);
    } finally {
      await dropper.close();
    }
  });

  it('reuses upstream connections (keep-alive)', async () => {
    const peers = new Set<number>();
    const up = await startServer((req, res) => {
      peers.add(req.socket.remotePort!);
      res.end('k');
    });
    try {
      await h.put('routes/ka', { uri: '/ka', upstream: upstreamOf(up) });
      for (let i = 0; i < 5; i++) expect((await h.request('/ka')).status).toBe(200);
      expect(peers.size).toBe(1);
    } finally {
      await up.close();
    }
  });

  ownClientOnly('a node closing a kept-alive connection just as it is reused costs a GET no 502', async () => {
    const sockets: net.Socket[] = [];
    const closer = net.createServer(answerOnceThenDrop(sockets));
    await new Promise<void>((r) => closer.listen(0, '127.0.0.1', r));
    try {
      const port = (closer.address() as net.AddressInfo).port;
      await h.put('routes/race', { uri: '/race', upstream: { ...upstreamOf({ port }), retries: 0 } });
      await expectRaceSaved(h, '/race', sockets);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => closer.close(() => r()));
    }
  });

  undiciFallbackOnly('undici fallback: a node that never accepts the connection: a POST with a body gets 504, not the next node', async () => {
    const hang = await startHangingPort();
    try {
      // As above, but undici cannot withdraw the queued attempt, which holds the body.
      await h.put('routes/hang-undici', { uri: '/hang-undici', timeout: { connect: 0.3 }, upstream: { nodes: { [`127.0.0.1:${hang.port}`]: 100, [`127.0.0.1:${echo.port}`]: 1 } } });
      const r = await h.request('/hang-undici', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'payload' });
      expect(r.status).toBe(504);
      expect(r.json()).toEqual({ error_msg: 'upstream timed out' });
    } finally {
      hang.close();
    }
  });

  undiciFallbackOnly('undici fallback: a node closing a kept-alive connection just as it is reused costs that GET a 502', async () => {
    const sockets: net.Socket[] = [];
    const closer = net.createServer(answerOnceThenDrop(sockets));
    await new Promise<void>((r) => closer.listen(0, '127.0.0.1', r));
    try {
      const port = (closer.address() as net.AddressInfo).port;
      await h.put('routes/race-undici', { uri: '/race-undici', upstream: { ...upstreamOf({ port }), retries: 0 } });
      await expectRaceLost(h, '/race-undici', sockets);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => closer.close(() => r()));
    }
  });

  it('keeps a pool across config changes while its node stays, closes it when the node goes', async () => {
    const up = await startEchoUpstream();
    const origin = `http://127.0.0.1:${up.port}`;
    try {
      await h.put('routes/pool', { uri: '/pool', upstream: upstreamOf(up) });
      expect(h.gw.pools.has(origin)).toBe(true);
      await h.request('/pool');
      await h.put('routes/pool', { uri: '/pool', upstream: upstreamOf(up), desc: 'changed', priority: 2 });
      await h.put('routes/pool', { uri: '/pool', upstream: { ...upstreamOf(up), retries: 1 } });
      expect(h.gw.pools.has(origin)).toBe(true);
      expect((await h.request('/pool')).status).toBe(200);
      await h.put('routes/pool', { uri: '/pool', upstream: upstreamOf(echo) });
      await waitFor(() => !h.gw.pools.has(origin), { what: 'pool of the removed node closed' });
    } finally {
      await up.close();
    }
  });

  it('streams a 50 MB response with backpressure (no buffering in the gateway)', async () => {
    const total = 50 * MB;
    let written = 0;
    let blocked = false;
    const chunk = Buffer.alloc(64 * 1024, 'y');
    const up = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': total });
      const pump = () => {
        blocked = false;
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) {
            blocked = true;
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    let req: http.ClientRequest | undefined;
    try {
      await h.put('routes/big-down', { uri: '/big-down', upstream: upstreamOf(up) });
      let received = 0;
      let response: http.IncomingMessage | undefined;
      req = http.get({ host: '127.0.0.1', port: h.port, path: '/big-down', agent: false });
      const done = new Promise<number>((resolve, reject) => {
        req!.on('response', (res) => {
          response = res;
          res.pause(); // a slow client: read nothing for now
          res.on('data', (c: Buffer) => (received += c.length));
          res.on('end', () => resolve(received));
          res.on('error', reject);
        });
        req!.on('error', reject);
      });
      // the upstream fills the path and then has to wait: the gateway does not soak it up
      let last = -1;
      await waitFor(async () => {
        if (!blocked) return false;
        const stable = written === last;
        last = written;
        return stable;
      }, { what: 'upstream blocked by backpressure', intervalMs: 100 });
      expect(written).toBeLessThan(total / 2);
      expect(received).toBe(0);
      // now read: everything arrives
      (await waitFor(() => response)).resume();
      expect(await done).toBe(total);
    } finally {
      req?.destroy();
      await up.close();
    }
  });

  it('streams a 50 MB request body with backpressure, and the upstream receives all of it', async () => {
    const total = 50 * MB;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const up = await startServer(async (req, res) => {
      await gate; // do not read the body until the test says so
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(JSON.stringify({ n })));
    });
    try {
      await h.put('routes/big-up', { uri: '/big-up', upstream: upstreamOf(up) });
      let sent = 0;
      let stalled = false;
      const chunk = Buffer.alloc(64 * 1024, 'z');
      const reply = new Promise<any>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: h.port, path: '/big-up', method: 'POST', agent: false,
          headers: { 'content-length': total } }, (res) => {
          let t = '';
          res.on('data', (c) => (t += c));
          res.on('end', () => resolve(JSON.parse(t)));
        });
        req.on('error', reject);
        const pump = () => {
          stalled = false;
          while (sent < total) {
            sent += chunk.length;
            if (!req.write(chunk)) {
              stalled = true;
              req.once('drain', pump);
              return;
            }
          }
          req.end();
        };
        pump();
      });
      let last = -1;
      await waitFor(() => {
        if (!stalled) return false;
        const stable = sent === last;
        last = sent;
        return stable;
      }, { what: 'client blocked by backpressure', intervalMs: 100 });
      expect(sent).toBeLessThan(total / 2);
      release();
      expect(await reply).toEqual({ n: total });
    } finally {
      release();
      await up.close();
    }
  });

  it('a client abort cancels the upstream request', async () => {
    let upstreamSawRequest = false;
    let upstreamSawClose = false;
    const up = await startServer((req, res) => {
      upstreamSawRequest = true;
      res.on('close', () => (upstreamSawClose = true)); // never answers
    });
    try {
      await h.put('routes/hang', { uri: '/hang', upstream: upstreamOf(up) });
      const req = http.get({ host: '127.0.0.1', port: h.port, path: '/hang', agent: false });
      req.on('error', () => undefined);
      await waitFor(() => upstreamSawRequest, { what: 'upstream got the request' });
      req.destroy();
      await waitFor(() => upstreamSawClose, { what: 'upstream request cancelled' });
      await waitFor(() => h.gw.activeRequests === 0, { what: 'no request left in flight' });
    } finally {
      await up.close();
    }
  });

  it('survives malformed requests', async () => {
    const raw = (text: string) => new Promise<string>((resolve) => {
      const s = net.connect(h.port, '127.0.0.1', () => s.write(text)); // the server closes (Connection: close, or after a 400)
      let out = '';
      s.on('data', (d) => (out += d));
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    expect(await raw('GARBAGE\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw('GET /anything HTTP/1.1\r\nHost: a\r\nBad Header Line\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw('OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw('GET /anything/%zz/../%2e%2e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 (200|404)/);
    expect(await raw('GET http://abs.example/anything?q=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200/);
    // and it still works
    expect((await h.request('/anything')).status).toBe(200);
  });

  it('matches on the normalised path (dot segments cannot escape a route)', async () => {
    await h.put('routes/public', { uri: '/public/*', upstream: upstreamOf(echo) });
    expect((await h.request('/public/../admin')).status).toBe(404);
    expect((await h.request('/public/%2e%2e/admin')).status).toBe(404);
    expect((await h.request('/public/ok')).status).toBe(200);
  });

  it('control API: ready and config revision', async () => {
    const ready = await httpRequest(h.controlPort, '/status/ready');
    expect(ready.status).toBe(200);
    const cfg = await httpRequest(h.controlPort, '/v1/config');
    expect(cfg.json()).toMatchObject({ revision: h.gw.appliedRevision, ready: true, connected: true });
    const routes = await httpRequest(h.controlPort, '/v1/routes');
    expect(routes.json().map((r: any) => r.id)).toContain('basic');
    expect((await httpRequest(h.controlPort, '/v1/route/basic')).json().value.uri).toBe('/anything*');
    expect((await httpRequest(h.controlPort, '/v1/route/nope')).status).toBe(404);
  });
});
