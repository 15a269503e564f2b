/**
 * What a Node process can proxy on one core of this machine, by how much of HTTP it leaves to
 * node's libraries (is "key-auth ≥ 0.5× nginx" reachable in Node, and what stands in
 * the way). Same setup as proxy.bench.ts: the SUT pinned to CPU 0, wrk (1 thread, 64 keep-alive
 * connections) and the upstream (nginx `return 200`) on CPU 1; each case a fresh process.
 *
 *   nginx          nginx proxy_pass, 1 worker (the reference)
 *   tcp-relay      node:net, each client connection piped to its own upstream connection:
 *                  no HTTP at all, the floor of Node's socket cost (read + write per side)
 *   raw-l7         node:net both sides with a hand-written HTTP/1.1 head parser: drops
 *                  `Connection`, adds X-Forwarded-For, frames responses by Content-Length.
 *                  GET only, no bodies, no limits: a sketch of a custom HTTP layer, not a proxy
 *   http-rawup     node:http server, hand-written upstream client on node:net
 *   http-llhttp    node:http server, upstream client on node:net framed by node's own native
 *                  llhttp (`_http_common`'s HTTPParser, what node:http's client uses): the
 *                  same sketch with a full parser (chunked, limits, keep-alive) in its place
 *   bare-h1        node:http server → Portico's built client (H1Pool): proxy.bench's ceiling
 *   llhttp-server  node's llhttp on the server side too (no node:http), → H1Pool: what an own
 *                  HTTP/1.1 server would save, with the same parser (GET only, no pipelining)
 *   http-undici    node:http server → undici Pool.dispatch (proxy.bench's "bare node", the
 *                  stack Portico was built on)
 *   http-only      node:http answering by itself (no upstream): the server side's share
 *
 * Run with `make bench BENCH=bench/node-ceilings.bench.ts`; what they showed in docs/performance.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PEERS, measure, pin, startNginxProxy, startNodeScript, startUpstream, type CaseResult, type Sut } from './proxy.bench';

const ROOT = path.resolve(__dirname, '..');
const REPEAT = Number(process.env.BENCH_REPEAT ?? 2);

/**
 * Shared by the two sketches with their own upstream client: the pool of kept-alive upstream
 * connections (KEPT_CONNECTIONS; each sketch defines setUp(u), which reads responses into
 * `u.res`), and the server half (SERVE_THROUGH_CONNECTION): node:http writing each request's
 * head to a connection from that pool.
 */
const KEPT_CONNECTIONS = `const http = require('node:http'), net = require('node:net');
const port = Number(process.argv[3]);
const idle = [];
/** A kept-alive upstream connection, or a new one prepared by the sketch's setUp(u). */
function connection() {
  const kept = idle.pop();
  if (kept) return kept;
  const u = net.connect(port, '127.0.0.1');
  u.setNoDelay(true);
  setUp(u);
  return u;
}`;

const SERVE_THROUGH_CONNECTION = `http.createServer((req, res) => {
  const u = connection();
  u.res = res;
  let head = req.method + ' ' + req.url + ' HTTP/1.1\\r\\n';
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') continue;
    head += raw[i] + ': ' + raw[i + 1] + '\\r\\n';
  }
  u.write(head + '\\r\\n', 'latin1');
}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
`;

const SOURCES: Record<string, string> = {
  'tcp-relay': `
const net = require('node:net');
net.createServer((c) => {
  c.setNoDelay(true);
  const u = net.connect(Number(process.argv[3]), '127.0.0.1');
  u.setNoDelay(true);
  c.on('data', (d) => u.write(d)); u.on('data', (d) => c.write(d));
  c.on('close', () => u.destroy()); u.on('close', () => c.destroy());
  c.on('error', () => {}); u.on('error', () => {});
}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
`,
  'raw-l7': `
const net = require('node:net');
function rewrite(head, extra) {
  const lines = head.split('\\r\\n');
  let out = lines[0] + '\\r\\n';
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    if (l.slice(0, l.indexOf(':')).toLowerCase() === 'connection') continue;
    out += l + '\\r\\n';
  }
  return out + extra + '\\r\\n';
}
net.createServer((c) => {
  c.setNoDelay(true);
  const u = net.connect(Number(process.argv[3]), '127.0.0.1');
  u.setNoDelay(true);
  let cin = null, uin = null;
  c.on('data', (d) => {
    cin = cin ? Buffer.concat([cin, d]) : d;
    const end = cin.indexOf('\\r\\n\\r\\n');
    if (end < 0) return;
    const head = cin.latin1Slice(0, end);
    cin = cin.length > end + 4 ? cin.subarray(end + 4) : null;
    u.write(rewrite(head, 'X-Forwarded-For: 127.0.0.1\\r\\n'), 'latin1');
  });
  u.on('data', (d) => {
    uin = uin ? Buffer.concat([uin, d]) : d;
    const end = uin.indexOf('\\r\\n\\r\\n');
    if (end < 0) return;
    const head = uin.latin1Slice(0, end);
    const m = /content-length: *(\\d+)/i.exec(head);
    const len = m ? Number(m[1]) : 0;
    if (uin.length < end + 4 + len) return;
    c.cork();
    c.write(rewrite(head, ''), 'latin1');
    c.write(uin.subarray(end + 4, end + 4 + len));
    c.uncork();
    uin = uin.length > end + 4 + len ? uin.subarray(end + 4 + len) : null;
  });
  c.on('close', () => u.destroy()); u.on('close', () => c.destroy());
  c.on('error', () => {}); u.on('error', () => {});
}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
`,
  'http-rawup': `
${KEPT_CONNECTIONS}
function setUp(u) {
  u.pending = null; u.res = null;
  u.on('data', (d) => {
    let b = u.pending ? Buffer.concat([u.pending, d]) : d;
    const end = b.indexOf('\\r\\n\\r\\n');
    if (end < 0) { u.pending = b; return; }
    const lines = b.latin1Slice(0, end).split('\\r\\n');
    const h = [];
    let len = 0;
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i], c = l.indexOf(':'), k = l.slice(0, c), v = l.slice(c + 1).trim();
      if (k.length === 14 && k.toLowerCase() === 'content-length') len = Number(v);
      if (k.length === 10 && k.toLowerCase() === 'connection') continue;
      h.push(k, v);
    }
    if (b.length < end + 4 + len) { u.pending = b; return; }
    const res = u.res;
    u.res = null; u.pending = null;
    res.writeHead(Number(lines[0].slice(9, 12)), h);
    res.end(b.subarray(end + 4, end + 4 + len));
    idle.push(u);
  });
  u.on('error', () => {});
}
${SERVE_THROUGH_CONNECTION}`,
  'http-llhttp': `
${KEPT_CONNECTIONS}
const { HTTPParser } = require('_http_common');
const { kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete } = HTTPParser;
function setUp(u) {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.RESPONSE, {}, 16384, 0);
  u.res = null; u.extra = [];
  parser[kOnHeaders] = (headers) => { for (const h of headers) u.extra.push(h); };
  parser[kOnHeadersComplete] = (major, minor, headers, method, url, status, message, upgrade, keepAlive) => {
    const raw = headers || u.extra;
    u.extra = [];
    const h = [];
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i];
      if (k.length === 10 && k.toLowerCase() === 'connection') continue;
      h.push(k, raw[i + 1]);
    }
    u.keepAlive = keepAlive;
    u.res.writeHead(status, h);
    return 0;
  };
  parser[kOnBody] = (b) => { u.res.write(b); };
  parser[kOnMessageComplete] = () => {
    const res = u.res;
    u.res = null;
    res.end();
    if (u.keepAlive) idle.push(u); else u.destroy();
  };
  u.on('data', (d) => { const r = parser.execute(d); if (r instanceof Error) u.destroy(r); });
  u.on('error', () => {});
}
${SERVE_THROUGH_CONNECTION}`,
  // The server side on node's llhttp too (REQUEST mode, reading the socket itself as node:http
  // does), with Portico's built client (H1Pool) upstream, and the answer written as one corked
  // head + body: what an own HTTP/1.1 server would save over node:http, with the same parser.
  // Sketch: GET without bodies, no pipelining, no upgrade; but it does the per-request work a
  // server must (keep-alive decision, Date header, idle timer refresh, 502 on upstream errors).
  'llhttp-server': `
const net = require('node:net');
const { HTTPParser, methods } = require('_http_common');
const { H1Pool } = require(${JSON.stringify(path.join(ROOT, 'packages/http1/dist'))});
const pool = new H1Pool('http://127.0.0.1:' + process.argv[3], { idleMs: 60000, maxRequests: 1000 });
const { kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, kOnExecute } = HTTPParser;
let date = '', dateAt = 0;
function dateHeader() {
  const now = Date.now();
  if (now - dateAt >= 1000) { dateAt = now - (now % 1000); date = new Date(dateAt).toUTCString(); }
  return date;
}
class Answer {
  constructor(c, keepAlive) { this.c = c; this.keepAlive = keepAlive; this.head = ''; this.body = []; }
  onConnect() {}
  onHeaders(status, raw, resume, message) {
    let head = 'HTTP/1.1 ' + status + ' ' + (message || '') + '\\r\\n';
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i];
      if (k.length === 10 && k.toLowerCase() === 'connection') continue;
      if (k.length === 10 && k.toLowerCase() === 'keep-alive') continue;
      if (k.length === 4 && k.toLowerCase() === 'date') continue; // ours replaces it, as nginx's does
      head += k + ': ' + raw[i + 1] + '\\r\\n';
    }
    this.head = head + 'date: ' + dateHeader() + (this.keepAlive ? '\\r\\nconnection: keep-alive\\r\\n\\r\\n' : '\\r\\nconnection: close\\r\\n\\r\\n');
    return true;
  }
  onData(chunk) { this.body.push(chunk); return true; }
  onComplete() {
    const c = this.c;
    c.cork();
    c.write(this.head, 'latin1');
    for (const b of this.body) c.write(b);
    c.uncork();
    if (!this.keepAlive) c.end();
  }
  onError() {
    this.c.end('HTTP/1.1 502 Bad Gateway\\r\\ncontent-length: 0\\r\\nconnection: close\\r\\n\\r\\n', 'latin1');
  }
}
net.createServer({ noDelay: true }, (c) => {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, 16384, HTTPParser.kLenientNone || 0);
  const addr = c.remoteAddress;
  let extra = [];
  const idle = setTimeout(() => c.destroy(), 60000);
  parser[kOnHeaders] = (headers) => { for (const h of headers) extra.push(h); };
  parser[kOnHeadersComplete] = (major, minor, headers, method, url, status, message, upgrade, keepAlive) => {
    idle.refresh();
    const raw = headers || extra;
    extra = [];
    const h = [];
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i];
      if (k.length === 10 && k.toLowerCase() === 'connection') continue;
      h.push(k, raw[i + 1]);
    }
    h.push('x-forwarded-for', addr);
    pool.dispatch({ path: url, method: methods[method], headers: h, body: null, headersTimeout: 60000, bodyTimeout: 60000 }, new Answer(c, keepAlive));
    return 0;
  };
  parser[kOnBody] = () => {};
  parser[kOnMessageComplete] = () => {};
  parser[kOnExecute] = (ret) => { if (ret instanceof Error) c.destroy(); };
  parser.consume(c._handle);
  c._handle._consumed = true;
  c.on('error', () => {});
  c.on('close', () => { clearTimeout(idle); parser.unconsume(); parser.close(); });
}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
`,
  'http-only': `
require('node:http').createServer((req, res) => {
  res.writeHead(200, ['Content-Type', 'text/plain']);
  res.end('ok\\n');
}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
`,
};

const CASES: Array<[string, string]> = [
  ['nginx', 'nginx proxy_pass (1 worker)'],
  ['tcp-relay', 'node:net TCP relay (no HTTP)'],
  ['raw-l7', 'node:net + hand-written HTTP (GET only)'],
  ['http-rawup', 'node:http + hand-written upstream client'],
  ['http-llhttp', 'node:http + client on node\'s own llhttp'],
  ['bare-h1', 'node:http + Portico\'s own client (H1Pool)'],
  ['llhttp-server', 'own server on node\'s llhttp + Portico\'s own client (sketch)'],
  ['bare-node', 'node:http + undici (Portico\'s stack until the own client)'],
  ['http-only', 'node:http answering itself (no upstream)'],
];

async function main(): Promise<void> {
  execFileSync(path.join(ROOT, 'scripts/bench-tools.sh'), { stdio: 'inherit' });
  pin([process.pid], '1');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'portico-node-ceilings-'));
  const upstream = await startUpstream(tmp);
  const runs: Record<string, CaseResult[]> = {};
  try {
    // Rounds rather than repeats in a row, so a noisy minute hits every case alike.
    for (let round = 0; round < REPEAT; round++) {
      for (const [id, label] of CASES) {
        const sut: Sut = id === 'nginx' ? await startNginxProxy(tmp, upstream.port) : await startNodeScript(tmp, id, SOURCES[id] ?? PEERS[id], upstream.port);
        try {
          (runs[id] ??= []).push(await measure(tmp, id, label, 'baseline', sut));
        } finally { await sut.stop(); }
      }
    }
  } finally {
    await upstream.stop();
  }
  const best = (id: string) => Math.max(...runs[id].map((r) => r.rps));
  const nginx = best('nginx');
  const rows = CASES.map(([id, label]) => `| ${label} | ${runs[id].map((r) => Math.round(r.rps).toLocaleString('en-US')).join(' / ')} | ${(best(id) / nginx).toFixed(2)} |`);
  const table = `| case | req/s (each round) | best × best nginx |\n|---|---:|---:|\n${rows.join('\n')}`;
  console.log(`\n${table}\n`);
  const date = new Date().toISOString().slice(0, 10);
  const outDir = path.join(ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, `node-ceilings-${date}.json`), JSON.stringify({ date: new Date().toISOString(), node: process.version, runs }, null, 2) + '\n');
  console.log(`wrote bench/results/node-ceilings-${date}.json`);
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
