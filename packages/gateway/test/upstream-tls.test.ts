import './helpers/quiet-logs';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { listenOnLoopback, makeTestCertificates, serveOnLoopback } from '@portico/testkit';
import { startHarness, type Harness } from './helpers/harness';
import { ownClientOnly, undiciFallbackOnly } from './helpers/fallbacks';
import { answerOnceThenDrop, expectRaceLost, expectRaceSaved } from './helpers/race-node';

/**
 * https upstreams through the real proxy (SPEC §4 upstream `tls`, §1 ssl_trusted_certificate):
 * verified by default against the configured CA bundle (Node's roots for "system"), not
 * verified with `tls.verify: false`, client certificates for mTLS, and the SNI name sent.
 * Certificates are made with openssl for this run.
 */
jest.setTimeout(60_000);

let dir: string;
const file = (name: string) => path.join(dir, name);
const read = (name: string) => fs.readFileSync(file(name), 'utf8');

interface TlsUpstream {
  port: number;
  /** TLS connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** An https upstream answering the SNI name it saw and whether a client certificate was presented. */
async function startTlsUpstream(opts: { requireClientCert?: boolean } = {}): Promise<TlsUpstream> {
  const server = https.createServer({
    cert: read('server.pem'),
    key: read('server.key'),
    ...(opts.requireClientCert ? { ca: read('ca.pem'), requestCert: true, rejectUnauthorized: true } : {}),
  }, (req, res) => {
    const sock = req.socket as TLSSocket;
    const body = JSON.stringify({
      servername: sock.servername || null,
      clientCert: opts.requireClientCert ? sock.getPeerCertificate().subject?.CN ?? null : null,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  let accepted = 0;
  server.on('secureConnection', () => accepted++);
  const served = await serveOnLoopback(server);
  return { port: served.port, connections: () => accepted, close: served.close };
}

let upstream: TlsUpstream;
let mtlsUpstream: TlsUpstream;

beforeAll(async () => {
  dir = makeTestCertificates('portico-upstream-tls').dir;
  upstream = await startTlsUpstream();
  mtlsUpstream = await startTlsUpstream({ requireClientCert: true });
});

afterAll(async () => {
  await upstream?.close();
  await mtlsUpstream?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const route = (uri: string, up: Record<string, unknown>) => ({ uri, upstream: { scheme: 'https', ...up } });

describe('ssl_trusted_certificate: system (default)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.close());

  test('an upstream whose CA is not trusted is refused: 502, verification is on by default', async () => {
    await h.put('routes/untrusted', route('/untrusted', { nodes: { [`127.0.0.1:${upstream.port}`]: 1 } }));
    const r = await h.request('/untrusted');
    expect(r.status).toBe(502);
    expect(r.json().error_msg).toBe('upstream certificate verification failed');
  });

  test('tls.verify: false skips verification: 200', async () => {
    await h.put('routes/noverify', route('/noverify', { nodes: { [`127.0.0.1:${upstream.port}`]: 1 }, tls: { verify: false } }));
    const r = await h.request('/noverify');
    expect(r.status).toBe(200);
  });
});

describe('ssl_trusted_certificate: a CA bundle path', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ config: { apisix: { ssl: { ssl_trusted_certificate: file('ca.pem') } } } });
  });
  afterAll(async () => h.close());

  test('an upstream signed by the configured CA is verified: 200; an IP node sends no SNI', async () => {
    await h.put('routes/trusted', route('/trusted', { nodes: { [`127.0.0.1:${upstream.port}`]: 1 } }));
    const r = await h.request('/trusted', { headers: { host: 'client.example' } });
    expect(r.status).toBe(200);
    // not the client's Host: the name verified is the node's
    expect(r.json().servername).toBeNull();
  });

  test('SNI is the node host for a named node', async () => {
    await h.put('routes/named', route('/named', { nodes: { [`localhost:${upstream.port}`]: 1 } }));
    const r = await h.request('/named', { headers: { host: 'client.example' } });
    expect(r.status).toBe(200);
    expect(r.json().servername).toBe('localhost');
  });

  test('SNI is upstream_host with pass_host: rewrite', async () => {
    await h.put('routes/rewrite', route('/rewrite', {
      nodes: { [`127.0.0.1:${upstream.port}`]: 1 }, pass_host: 'rewrite', upstream_host: `localhost:${upstream.port}`,
    }));
    const r = await h.request('/rewrite');
    expect(r.status).toBe(200);
    expect(r.json().servername).toBe('localhost');
  });

  test('a certificate that does not match the SNI name is refused: 502', async () => {
    await h.put('routes/mismatch', route('/mismatch', {
      nodes: { [`127.0.0.1:${upstream.port}`]: 1 }, pass_host: 'rewrite', upstream_host: 'other.example',
    }));
    const r = await h.request('/mismatch');
    expect(r.status).toBe(502);
    expect(r.json().error_msg).toBe('upstream certificate verification failed');
  });

  test('mTLS: tls.client_cert/client_key are presented to an upstream that requires them', async () => {
    await h.put('routes/mtls', route('/mtls', {
      nodes: { [`127.0.0.1:${mtlsUpstream.port}`]: 1 },
      tls: { client_cert: read('client.pem'), client_key: read('client.key') },
    }));
    const r = await h.request('/mtls');
    expect(r.status).toBe(200);
    expect(r.json().clientCert).toBe('portico-client');
  });

  test('kept-alive connections are reused per SNI name: requests for another name open their own', async () => {
    const up = await startTlsUpstream();
    try {
      const nodes = { [`127.0.0.1:${up.port}`]: 1 };
      // One node, so one pool; the two routes differ only in the SNI name they send.
      await h.put('routes/sni-ip', route('/sni-ip', { nodes }));
      await h.put('routes/sni-name', route('/sni-name', { nodes, pass_host: 'rewrite', upstream_host: 'localhost' }));
      for (let i = 0; i < 3; i++) {
        expect((await h.request('/sni-name')).json().servername).toBe('localhost');
        expect((await h.request('/sni-ip')).json().servername).toBeNull();
      }
      expect(up.connections()).toBe(2);
    } finally {
      await up.close();
    }
  });

  ownClientOnly('a GET whose kept-alive connection the node just closed is sent again on a new connection; a POST is not', async () => {
    // as for http nodes in proxy.test.ts
    const sockets: net.Socket[] = [];
    const closer = tls.createServer({ cert: read('server.pem'), key: read('server.key') }, answerOnceThenDrop(sockets));
    const port = await listenOnLoopback(closer);
    try {
      await h.put('routes/tls-race', route('/tls-race', { nodes: { [`127.0.0.1:${port}`]: 1 }, retries: 0 }));
      await expectRaceSaved(h, '/tls-race', sockets);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((resolve) => closer.close(() => resolve()));
    }
  });

  undiciFallbackOnly('undici fallback: a GET whose kept-alive connection the node just closed is answered 502', async () => {
    // as for http nodes in proxy.test.ts
    const sockets: net.Socket[] = [];
    const closer = tls.createServer({ cert: read('server.pem'), key: read('server.key') }, answerOnceThenDrop(sockets));
    const port = await listenOnLoopback(closer);
    try {
      await h.put('routes/tls-race-undici', route('/tls-race-undici', { nodes: { [`127.0.0.1:${port}`]: 1 }, retries: 0 }));
      await expectRaceLost(h, '/tls-race-undici', sockets);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((resolve) => closer.close(() => resolve()));
    }
  });

  test('mTLS: without a client certificate the upstream refuses the handshake: 502', async () => {
    await h.put('routes/nocert', route('/nocert', { nodes: { [`127.0.0.1:${mtlsUpstream.port}`]: 1 } }));
    expect((await h.request('/nocert')).status).toBe(502);
  });
});
