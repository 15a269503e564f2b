import './helpers/quiet-logs';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { DEFAULT_CONFIG } from '@portico/core';
import { waitFor } from '@portico/testkit';
import { startHarness, startServer, type Harness } from './helpers/harness';

/**
 * Proxy hygiene: streaming with flat memory, backpressure against a stalled client,
 * abort propagation, keep-alive timeout, header size limit, request smuggling vectors.
 *
 * Memory bound: RSS of the whole jest worker (client, gateway and upstream all live in it)
 * may grow by at most RSS_BOUND while 1 GiB goes through in each direction. A proxy that
 * buffered would grow by ~1 GiB.
 */
const MB = 1024 * 1024;
const GiB = 1024 * MB;
const RSS_BOUND = 150 * MB;
const CHUNK = Buffer.alloc(MB, 0x61);

/** A Readable of `total` bytes that reuses one buffer (the source itself allocates nothing). */
function zeros(total: number): Readable {
  let left = total;
  return new Readable({
    highWaterMark: MB,
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, CHUNK.length);
      left -= n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

/** Samples RSS while `work` runs; resolves with its result and the peak growth over the start. */
async function peakRssGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const base = process.memoryUsage.rss();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

/** A raw HTTP exchange: writes `text`, resolves with everything read until the server closes. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
  });
}

/** Like startServer, but accepting heads up to 64 KiB, so that a 431 can only come from the gateway. */
const startUpstream = (handler: http.RequestListener) => startServer(handler, { maxHeaderSize: 64 * 1024 });

describe('proxy hygiene', () => {
  let h: Harness;
  let received = 0;
  let requestsSeen = 0;
  /** Download side: bytes the upstream managed to hand to its socket, and whether it waits for 'drain'. */
  let sent = 0;
  let blockedSince: number | undefined;
  let upstreamClosed = false;
  let up: Awaited<ReturnType<typeof startUpstream>>;

  beforeAll(async () => {
    h = await startHarness();
    up = await startUpstream((req, res) => {
      requestsSeen++;
      if (req.url === '/upload') {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.length));
        req.on('end', () => {
          received = n;
          res.end(String(n));
        });
        return;
      }
      if (req.url?.startsWith('/download')) {
        sent = 0;
        blockedSince = undefined;
        upstreamClosed = false;
        res.on('close', () => (upstreamClosed = true));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': GiB });
        const pump = (): void => {
          blockedSince = undefined;
          while (sent < GiB) {
            sent += CHUNK.length;
            if (!res.write(CHUNK)) {
              blockedSince = performance.now();
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      res.end('ok');
    });
    await h.put('routes/big', { uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } });
  });
  afterAll(async () => {
    await h.close();
    await up.close();
  });

  it('streams a 1 GiB upload with flat memory', async () => {
    const { result, growth } = await peakRssGrowth(() => new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: h.port, path: '/upload', method: 'PUT', agent: false,
        headers: { 'content-length': GiB } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      zeros(GiB).pipe(req);
    }));
    expect(result).toBe(String(GiB));
    expect(received).toBe(GiB);
    console.log(`1 GiB upload: peak RSS growth ${(growth / MB).toFixed(1)} MB (bound ${RSS_BOUND / MB} MB)`);
    expect(growth).toBeLessThan(RSS_BOUND);
  }, 30_000);

  it('streams a 1 GiB download with flat memory', async () => {
    const { result, growth } = await peakRssGrowth(() => new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: h.port, path: '/download', agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(n));
        res.on('error', reject);
      }).on('error', reject);
    }));
    expect(result).toBe(GiB);
    console.log(`1 GiB download: peak RSS growth ${(growth / MB).toFixed(1)} MB (bound ${RSS_BOUND / MB} MB)`);
    expect(growth).toBeLessThan(RSS_BOUND);
  }, 30_000);

  it('holds the upstream back when the client stops reading (backpressure), and cancels it when the client leaves', async () => {
    const base = process.memoryUsage.rss();
    const req = http.get({ host: '127.0.0.1', port: h.port, path: '/download?stall', agent: false }, (res) => res.pause());
    req.on('error', () => undefined);
    // The upstream has 1 GiB to send. Without backpressure the gateway would keep reading and
    // the upstream would never stay blocked; with it, the upstream waits for 'drain' once the
    // socket buffers (kernel + node) are full, and stays waiting.
    await waitFor(() => blockedSince !== undefined && performance.now() - blockedSince > 500,
      { what: 'the upstream blocked on a stalled client for 500 ms' });
    expect(sent).toBeLessThan(64 * MB);
    expect(process.memoryUsage.rss() - base).toBeLessThan(100 * MB);
    req.destroy();
    await waitFor(() => upstreamClosed, { what: 'the upstream response cancelled' });
    await waitFor(() => h.gw.activeRequests === 0, { what: 'no request left in flight' });
  });

  it('cancels the upstream request when the client aborts mid-upload', async () => {
    let upstreamAborted = false;
    let upstreamGotBody = false;
    const slow = await startServer((req) => {
      req.on('data', () => (upstreamGotBody = true));
      req.on('close', () => (upstreamAborted = !req.complete));
    });
    try {
      await h.put('routes/slow', { uri: '/slow-upload', upstream: { nodes: { [`127.0.0.1:${slow.port}`]: 1 } } });
      const req = http.request({ host: '127.0.0.1', port: h.port, path: '/slow-upload', method: 'POST', agent: false,
        headers: { 'content-length': 10 * MB } });
      req.on('error', () => undefined);
      req.write(CHUNK);
      await waitFor(() => upstreamGotBody, { what: 'the upstream started receiving the body' });
      req.destroy();
      await waitFor(() => upstreamAborted, { what: 'the upstream request aborted' });
    } finally {
      await slow.close();
    }
  });

  it('keeps idle connections 75 s by default (above the 60 s of common load balancers)', async () => {
    expect(DEFAULT_CONFIG.apisix.http.keepalive_timeout).toBe(75);
    const s = net.connect(h.port, '127.0.0.1');
    const head = await new Promise<string>((resolve, reject) => {
      s.on('connect', () => s.write('GET /ka HTTP/1.1\r\nHost: a\r\n\r\n'));
      s.on('data', (d) => resolve(d.toString()));
      s.on('error', reject);
    });
    s.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(head).toMatch(/\r\nKeep-Alive: timeout=75\r\n/i);
  });

  it('limits the request head (431) at 32 KiB by default', async () => {
    const first = requestsSeen;
    expect(await raw(h.port, `GET /ok HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\nConnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 200/);
    expect(requestsSeen).toBe(first + 1);
    const before = requestsSeen;
    expect(await raw(h.port, `GET /ok HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(40_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/);
    expect(requestsSeen).toBe(before);
  });

  it('rejects conflicting Content-Length / Transfer-Encoding with 400 before anything reaches the upstream', async () => {
    const before = requestsSeen;
    expect(await raw(h.port, 'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'))
      .toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(h.port, 'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'))
      .toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(h.port, 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'))
      .toMatch(/^HTTP\/1\.1 400/);
    expect(requestsSeen).toBe(before);
  });

  describe('with apisix.http settings', () => {
    let h2: Harness;
    beforeAll(async () => {
      h2 = await startHarness({ config: { apisix: { http: { keepalive_timeout: 0.3, max_header_size: 8192 } } } });
      await h2.put('routes/any', { uri: '/*', upstream: { nodes: { [`127.0.0.1:${up.port}`]: 1 } } });
    });
    afterAll(() => h2.close());

    it('closes an idle keep-alive connection after keepalive_timeout', async () => {
      const s = net.connect(h2.port, '127.0.0.1');
      s.on('error', () => undefined);
      let answeredAt = 0;
      const closedAt = await new Promise<number>((resolve) => {
        s.on('connect', () => s.write('GET /ok HTTP/1.1\r\nHost: a\r\n\r\n'));
        s.on('data', () => (answeredAt ||= performance.now()));
        s.on('close', () => resolve(performance.now()));
      });
      expect(answeredAt).toBeGreaterThan(0);
      expect(closedAt - answeredAt).toBeGreaterThanOrEqual(250);
      expect(closedAt - answeredAt).toBeLessThan(5000);
    });

    it('answers 431 above max_header_size', async () => {
      expect(await raw(h2.port, `GET /ok HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(10_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/);
    });
  });
});
