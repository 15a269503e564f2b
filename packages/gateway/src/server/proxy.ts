import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { util as undiciUtil } from 'undici';
import { componentLogger, type Logger } from '@portico/core';
import type { ClientRequest, ClientResponse } from './client-http';
import { CONSUMER_CREDENTIAL, CONSUMER_USERNAME, RequestContext } from './request-context';
import {
  connectionTokens,
  extraConnectionTokens,
  HOP_BY_HOP,
  hostWithoutPort,
  normalizePath,
  normalizeRemoteAddress,
  sendError,
  sendJson,
} from './http-util';
import { GatewayMetrics } from '../node/metrics';
import { isUpgrade, tunnel, upgradeResponse, websocketEnabled } from './websocket';
import type { PluginResponse, ResponseHead } from '../plugins';
import type { PluginChain } from '../plugins/pipeline';
import type { GatewayTables, RouteRuntime } from '../config/gateway-tables';
import type { Target, UpstreamRuntime } from '../upstream/upstream';
import type { UpstreamHandler, UpstreamRequest } from '@portico/http1';
import { atBatchEnd, H1Server, lowerName, ServerResponse as H1ServerResponse, validHost } from '@portico/http1';
import { chooseServer, type HttpStackConf } from './http-stack';

/** The listening side: node:http's server, or the own one (@portico/http1). */
interface DataPlaneServer {
  listen(port: number, host: string | undefined, cb: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  close(cb?: () => void): unknown;
  closeIdleConnections(): void;
  closeAllConnections(): void;
  address(): AddressInfo | string | null;
  on(event: 'error', listener: (err: Error) => void): unknown;
}


export interface ListenAddress {
  ip?: string;
  port: number;
}

export interface ProxyServerOptions {
  /** The current tables (read once per request). */
  tables: () => GatewayTables;
  logger?: Logger;
  /** Request counters and upstream latency are recorded here when set. */
  metrics?: GatewayMetrics;
  /** `apisix.http` (config.yaml). */
  http?: { keepalive_timeout?: number; max_header_size?: number; send_timeout?: number } & HttpStackConf;
  /** CA bundle for https upstreams of websocket tunnels (`apisix.ssl.ssl_trusted_certificate`). */
  ca?: string | Buffer;
}

/** Idle keep-alive timeout (s): above common LB idle timeouts (AWS ALB 60 s), so the LB closes first. */
const DEFAULT_KEEPALIVE_S = 75;
/** Request head size limit (bytes); node answers 431 beyond it. */
const DEFAULT_MAX_HEADER_SIZE = 32 * 1024;

const DEFAULT_TIMEOUT_S = 60;
/** Time a client may take no response bytes before its connection is cut (nginx's send_timeout). */
const DEFAULT_SEND_TIMEOUT_S = 60;

/**
 * Lower-case header name from a raw header list (undici's Buffers or the own client's strings);
 * interned strings for the common names.
 */
const headerNameToString = undiciUtil.headerNameToString as (value: Buffer | string) => string;

/** Headers the gateway sets itself; a client's copies are dropped. */
const GATEWAY_SET = new Set(['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port',
  'x-real-ip', 'content-length', 'expect']);

/** Errors that happen before the request reached the upstream: safe to retry for any method. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'CONNECT_TIMEOUT']);
/** Certificate verification failures (OpenSSL codes as Node reports them): no request was sent. */
const TLS_VERIFY_ERRORS = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED',
  'CERT_REJECTED', 'ERR_TLS_CERT_ALTNAME_INVALID']);
const TIMEOUT_ERRORS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'CONNECT_TIMEOUT']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/**
 * The data-plane HTTP server (SPEC §6–§8): match → plugins → balance → forward.
 *
 * Forwarding uses undici `Pool.dispatch` with a handler, so both bodies stream with
 * backpressure: the client's IncomingMessage is the upstream request body (undici pauses it
 * while the upstream socket is full), and upstream chunks are written to the ServerResponse,
 * pausing the upstream read whenever `res.write` returns false until 'drain'. A client that
 * goes away aborts the upstream request.
 */
export class ProxyServer {
  private readonly servers: DataPlaneServer[] = [];
  private readonly log: Logger;
  private readonly getTables: () => GatewayTables;
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  /** Upgraded connections: node's server no longer tracks them, so close() must cut them itself. */
  private readonly upgraded = new Set<Duplex>();
  private readonly metrics?: GatewayMetrics;
  private readonly serverOptions: http.ServerOptions;
  private readonly ca?: string | Buffer;
  private readonly sendMs: number;
  /** Portico's own server answers (else node:http's): `apisix.http.server`, see http-stack.ts. */
  private readonly ownServer: boolean;

  /** The server this proxy runs, for the control API. */
  get serverKind(): 'own' | 'node' {
    return this.ownServer ? 'own' : 'node';
  }
  /** Shutting down (close): answers say Connection: close, idle connections are closed. */
  private draining = false;
  /**
   * node:http's server only: the responses not closed yet, told to close their connection when
   * a shutdown begins (the own server knows its connections itself).
   */
  private readonly nodeResponses?: Set<ClientResponse>;
  private nodeIdleCheck = false;

  constructor(opts: ProxyServerOptions) {
    this.getTables = opts.tables;
    this.log = opts.logger ?? componentLogger('proxy');
    this.metrics = opts.metrics;
    this.ca = opts.ca;
    const keepAliveMs = (opts.http?.keepalive_timeout ?? DEFAULT_KEEPALIVE_S) * 1000;
    this.sendMs = (opts.http?.send_timeout ?? DEFAULT_SEND_TIMEOUT_S) * 1000;
    this.ownServer = chooseServer(opts.http, this.log) === 'own';
    if (!this.ownServer) this.nodeResponses = new Set();
    this.serverOptions = {
      requestTimeout: 0,
      keepAliveTimeout: keepAliveMs,
      // A request head must arrive within this; node wants it above keepAliveTimeout so an
      // idle connection is reaped by the keep-alive timer, not reported as a slow request.
      headersTimeout: keepAliveMs + 5000,
      maxHeaderSize: opts.http?.max_header_size ?? DEFAULT_MAX_HEADER_SIZE,
      // Conflicting Content-Length / Transfer-Encoding and other smuggling vectors: 400.
      insecureHTTPParser: false,
    };
  }

  /** Requests being handled right now. */
  get activeRequests(): number {
    return this.inflight;
  }

  async listen(addresses: readonly ListenAddress[]): Promise<number[]> {
    const ports: number[] = [];
    for (const addr of addresses) {
      const server = this.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(addr.port, addr.ip, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.log.error({ err: err.message }, 'proxy server error'));
      this.servers.push(server);
      ports.push((server.address() as AddressInfo).port);
    }
    return ports;
  }

  /** The own server (@portico/http1), or node:http's: both hand over ClientRequest / ClientResponse. */
  private createServer(): DataPlaneServer {
    if (this.ownServer) {
      const o = this.serverOptions;
      return new H1Server(
        { keepAliveTimeout: o.keepAliveTimeout ?? 5000, headersTimeout: o.headersTimeout ?? 60_000, maxHeaderSize: o.maxHeaderSize ?? http.maxHeaderSize },
        this.handle,
        this.handleUpgrade,
      );
    }
    const server = http.createServer(this.serverOptions, this.handle);
    server.on('upgrade', this.handleUpgrade);
    return server;
  }

  /**
   * Graceful shutdown: stops accepting; every request received is answered, with Connection:
   * close on the last one a connection has; idle connections are closed between requests
   * (never one whose next request has arrived). Resolves once every connection is closed, or
   * at `deadlineMs`, when what is left is cut.
   */
  async close(deadlineMs = 10_000): Promise<void> {
    this.draining = true;
    const closed = this.servers.map((s) => new Promise<void>((resolve) => {
      if (s instanceof H1Server) s.close(resolve);
      // (http.Server's own close() also destroys its idle connections at once, one whose next
      // request is still unread included: net.Server's only stops accepting)
      else net.Server.prototype.close.call(s as http.Server, () => resolve());
    }));
    for (const s of this.servers) {
      if (s instanceof H1Server) s.drain();
    }
    if (this.nodeResponses) {
      for (const res of this.nodeResponses) closeAfterAnswer(res);
      this.closeNodeIdleConnections();
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(closed),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    for (const s of this.servers) s.closeAllConnections();
    for (const sock of this.upgraded) sock.destroy();
    await Promise.all(closed);
    // (http.Server's close also stops its timeout checks; the listener is closed already)
    for (const s of this.servers) if (!(s instanceof H1Server)) s.close();
    this.servers.length = 0;
  }

  /**
   * node:http's idle connections, closed once the loop has polled the sockets again (see
   * H1Server.closeIdleConnections): one whose next request has arrived is answered instead.
   */
  private closeNodeIdleConnections(): void {
    if (this.nodeIdleCheck) return;
    this.nodeIdleCheck = true;
    setImmediate(() => setImmediate(() => {
      this.nodeIdleCheck = false;
      for (const s of this.servers) if (!(s instanceof H1Server)) s.closeIdleConnections();
    }));
  }

  private readonly handle = (req: ClientRequest, res: ClientResponse): void => {
    this.inflight++;
    // One shared listener, not a closure per request (and `on`, not `once`, which wraps it):
    // 'close' fires once per response anyway.
    res.on('close', this.onResponseClose);
    if (this.nodeResponses) {
      this.nodeResponses.add(res);
      if (this.draining) closeAfterAnswer(res);
      // node:http takes a duplicate or invalid Host; the own server refuses it itself.
      if (badHost(req)) {
        closeAfterAnswer(res);
        return sendError(res, 400, 'bad request');
      }
    }
    try {
      this.route(req, res);
    } catch (err) {
      this.internalError(res, err);
    }
  };

  /** An Upgrade request: routed and answered like any other, over the raw socket (websocket.ts). */
  private readonly handleUpgrade = (req: ClientRequest, socket: Duplex, head: Buffer): void => {
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    this.handle(req, upgradeResponse(req, socket, head));
  };

  /**
   * A response's 'close' (`this` is the response): the request is done; metrics count it; an
   * exchange still running for it (the client left) abandons its upstream request.
   */
  private readonly onResponseClose = ((proxy: ProxyServer) => function (this: ClientResponse): void {
    proxy.onRequestDone();
    proxy.metrics?.onResponseClose.call(this);
    (this as ExchangeTagged)[RUNNING_EXCHANGE]?.clientClosed();
    if (proxy.nodeResponses) {
      proxy.nodeResponses.delete(this);
      if (proxy.draining) proxy.closeNodeIdleConnections();
    }
  })(this);

  private onRequestDone(): void {
    if (--this.inflight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private internalError(res: ClientResponse, err: unknown): void {
    replyInternalError(this.log, res, err);
  }

  private route(req: ClientRequest, res: ClientResponse): void {
    let target = req.url ?? '/';
    let hostHeader = req.headers.host;
    if (target.charCodeAt(0) !== 47 /* / */) {
      // absolute-form (a proxy-style request): its authority wins over Host
      let url: URL | undefined;
      try {
        if (/^https?:\/\//i.test(target)) url = new URL(target);
      } catch {
        url = undefined;
      }
      if (!url) return sendError(res, 400, 'bad request');
      target = url.pathname + url.search;
      hostHeader = url.host;
    }
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q + 1);
    const tables = this.getTables();
    const ctx = new RequestContext(req, res, tables.consumers, normalizePath(rawPath), rawPath, query,
      hostWithoutPort(hostHeader), normalizeRemoteAddress(req.socket.remoteAddress));
    // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host.
    if (hostHeader !== req.headers.host) ctx.authority = hostHeader;

    const route = tables.router.match(ctx);
    if (!route) return this.unmatched(ctx, tables.globalChain);
    ctx.route = route;
    if (this.metrics) GatewayMetrics.tagRoute(res, route.id);
    if (route.unavailable) return sendError(res, route.unavailable.status, route.unavailable.reason);

    const chain = route.chain.withGlobal(tables.globalChain);
    if (!chain.empty) {
      ctx.chain = chain;
      const r = chain.run(ctx);
      if (r instanceof Promise) {
        r.then((reply) => (reply ? sendReply(ctx, reply) : this.forward(ctx, tables)))
          .catch((err) => this.internalError(res, err));
        return;
      }
      if (r) return sendReply(ctx, r);
    }
    this.forward(ctx, tables);
  }

  /**
   * No route matched: the global rules still run before the 404 (APISIX 3.x `http_access_phase`:
   * `if not route then plugin.run_global_rules(api_ctx, router.global_rules, nil)` and only then
   * `404 Route Not Found`), so a global ip-restriction or limit-count rejects first, and their
   * response headers and header filters apply to the 404 as well.
   */
  private unmatched(ctx: RequestContext, global: PluginChain): void {
    const notFound: PluginResponse = { status: 404, body: { error_msg: '404 Route Not Found' } };
    if (global.empty) return sendReply(ctx, notFound);
    ctx.chain = global;
    const r = global.run(ctx);
    if (r instanceof Promise) {
      r.then((reply) => sendReply(ctx, reply ?? notFound)).catch((err) => this.internalError(ctx.res, err));
      return;
    }
    sendReply(ctx, r ?? notFound);
  }

  private forward(ctx: RequestContext, tables: GatewayTables): void {
    if (ctx.res.destroyed) return; // the client left while plugins ran
    const route = ctx.route;
    let upstream = route.upstream;
    if (!upstream && route.upstreamId !== undefined) {
      upstream = tables.upstreams.get(route.upstreamId);
      if (!upstream) return sendReply(ctx, { status: 502, body: { error_msg: `failed to find upstream by id: ${route.upstreamId}` } });
    }
    if (!upstream) return sendReply(ctx, { status: 503, body: { error_msg: 'missing upstream configuration in Route or Service' } });
    const fwd = new Forwarding(ctx, upstream, route, this.log, this.metrics, this.sendMs);
    if (isUpgrade(ctx.req)) return this.forwardUpgrade(fwd);
    fwd.next();
  }

  /**
   * An Upgrade request: tunnelled when the route enables websocket; otherwise forwarded as a
   * plain request (APISIX sends no Upgrade upstream then), which needs it to have no body
   * because the raw socket no longer feeds the request stream.
   */
  private forwardUpgrade(fwd: Forwarding): void {
    const { ctx, upstream } = fwd;
    if (!websocketEnabled(ctx.route)) {
      if (fwd.hasBody) return sendReply(ctx, { status: 400, body: { error_msg: 'upgrade request with a body' } });
      return fwd.next();
    }
    const metrics = this.metrics;
    tunnel({
      ctx,
      upstream,
      headers: (t) => fwd.buildHeaders(t),
      connectMs: fwd.connectMs,
      idleMs: fwd.readMs,
      ca: this.ca,
      reply: (r) => sendReply(ctx, r),
      log: this.log,
      onStatus: metrics ? (status, ms) => {
        GatewayMetrics.tagRawStatus(ctx.res, status);
        metrics.upstreamLatency(ctx.route.id, ms);
      } : undefined,
    });
  }
}

/** A request whose handling threw: logged, and answered 500 (or cut, once the head is out). */
function replyInternalError(log: Logger, res: ClientResponse, err: unknown, route?: string): void {
  log.error({ route, err: (err as Error)?.stack ?? String(err) }, 'request handling failed');
  if (!res.headersSent) sendError(res, 500, 'internal server error');
  else res.destroy();
}

/**
 * Sends a gateway-made reply (plugin exits, upstream errors) through the response side of the
 * plugins: their response headers and header filters apply as to an upstream answer.
 */
function sendReply(ctx: RequestContext, r: PluginResponse): void {
  if (ctx.res.destroyed) return;
  if (ctx.res.headersSent) return void ctx.res.destroy();
  if (!ctx.chain?.hasHeaderFilters && !ctx.responseHeaders && r.raw === undefined) {
    return sendJson(ctx.res, r.status, r.body ?? {}, r.headers);
  }
  // Header filters see plugin replies too (cors headers on a 429, response-rewrite of a 401).
  const head: ResponseHead = { status: r.status, headers: {} };
  if (r.raw === undefined) head.headers['content-type'] = 'application/json';
  if (r.headers) for (const [k, v] of Object.entries(r.headers)) head.headers[lowerName(k)] = v;
  if (ctx.responseHeaders) for (const [k, v] of ctx.responseHeaders) head.headers[k] = v;
  ctx.chain?.filterResponse(ctx, head);
  const body = ctx.responseBody ?? r.raw ?? JSON.stringify(r.body ?? {});
  head.headers['content-length'] = String(Buffer.byteLength(body));
  ctx.res.writeHead(head.status, head.headers);
  ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
}

/** The exchange a response is waiting for, told when the client leaves (ProxyServer.onResponseClose). */
const RUNNING_EXCHANGE = Symbol('runningExchange');
type ExchangeTagged = ClientResponse & { [RUNNING_EXCHANGE]?: Exchange };

/** One request's trip upstream, including retries on other nodes. */
export class Forwarding {
  /**
   * Nodes tried so far: the first one alone, and a Set only once a retry needs to exclude
   * something (most requests make one attempt; a Set per request showed in the allocations).
   */
  private first?: Target;
  private tried?: Set<Target>;
  private attempts = 0;
  /** Only read with a retry_timeout. */
  private readonly started: number;
  private readonly retries: number;
  readonly connectMs: number;
  readonly readMs: number;
  readonly hasBody: boolean;
  private lastFailure?: { status: number; reason: string };

  constructor(
    readonly ctx: RequestContext,
    readonly upstream: UpstreamRuntime,
    route: RouteRuntime,
    readonly log: Logger,
    readonly metrics?: GatewayMetrics,
    /** nginx's send_timeout: how long a client may take none of the response (0 = no limit). */
    readonly sendMs = DEFAULT_SEND_TIMEOUT_S * 1000,
  ) {
    this.retries = upstream.retries ?? Math.max(0, upstream.pickable - 1);
    this.started = upstream.retryTimeoutMs > 0 ? Date.now() : 0;
    const rt = route.timeout;
    const ut = upstream.timeout;
    this.connectMs = (rt?.connect ?? ut.connect ?? DEFAULT_TIMEOUT_S) * 1000;
    // undici refreshes its headers timer while the request body is written, so `read` also
    // bounds a stalled upload; `send` has no separate timer yet.
    this.readMs = (rt?.read ?? ut.read ?? DEFAULT_TIMEOUT_S) * 1000;
    const h = ctx.req.headers;
    this.hasBody = h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
  }

  next(): void {
    if (this.first && !this.tried) this.tried = new Set([this.first]);
    const t = this.upstream.pick(this.tried, this.ctx);
    if (!t) {
      const f = this.lastFailure ?? { status: 502, reason: 'no valid upstream node' };
      return sendReply(this.ctx, { status: f.status, body: { error_msg: f.reason } });
    }
    if (this.tried) this.tried.add(t);
    else this.first = t;
    this.attempts++;
    // Both clients validate the request (headers, path) inside dispatch and report a problem
    // through onError as UND_ERR_INVALID_ARG.
    const opts: UpstreamRequest = {
      path: this.ctx.upstreamPath,
      method: this.ctx.upstreamMethod ?? this.ctx.method,
      headers: this.buildHeaders(t),
      body: this.hasBody ? this.ctx.req : null,
      connectTimeout: this.connectMs,
      headersTimeout: this.readMs,
      bodyTimeout: this.readMs,
    };
    // SNI of https pools
    if (t.servername !== undefined) opts.servername = t.servername;
    new Exchange(this, t, opts).start();
  }

  /**
   * Called by an exchange that failed before any response byte. `requestSent`: the node may
   * have seen the request. `bodyHeld`: an abandoned attempt still holds the request body.
   */
  failed(t: Target, err: Error & { code?: string }, requestSent: boolean, bodyHeld = false): void {
    const code = err.code ?? '';
    const status = TIMEOUT_ERRORS.has(code) ? 504 : code === 'UND_ERR_INVALID_ARG' ? 400 : 502;
    const reason = status === 504 ? 'upstream timed out'
      : status === 400 ? 'invalid request'
      : CONNECT_ERRORS.has(code) ? 'failed to connect to upstream'
      : TLS_VERIFY_ERRORS.has(code) ? 'upstream certificate verification failed'
      : code.startsWith('HPE_') || code === 'BAD_RESPONSE' ? 'invalid response from upstream'
      : 'upstream closed the connection before responding';
    this.log.warn({ route: this.ctx.route.id, node: t.origin, code, err: err.message, attempt: this.attempts },
      `upstream request failed: ${reason}`);
    this.lastFailure = { status, reason };
    // passive health checks: an invalid request (400) is not the node's fault
    if (status !== 400) this.upstream.reportFailure(t, status === 504 ? 'timeout_failure' : 'tcp_failure');
    if (status !== 400 && this.mayRetry(code, requestSent, bodyHeld)) return this.next();
    sendReply(this.ctx, { status, body: { error_msg: reason } });
  }

  private mayRetry(code: string, requestSent: boolean, bodyHeld: boolean): boolean {
    if (this.attempts > this.retries) return false;
    if (this.upstream.retryTimeoutMs > 0 && Date.now() - this.started >= this.upstream.retryTimeoutMs) return false;
    if (this.ctx.res.destroyed) return false;
    if (this.hasBody) {
      // A body is streamed, not buffered: it can be replayed only if nothing of it was read
      // and no abandoned attempt still holds it.
      const req = this.ctx.req;
      if (requestSent || bodyHeld || req.readableDidRead || req.destroyed) return false;
    }
    return CONNECT_ERRORS.has(code) || TLS_VERIFY_ERRORS.has(code) ? true : !requestSent || IDEMPOTENT.has(this.ctx.method);
  }

  buildHeaders(t: Target): string[] {
    const { req, headerOverrides: ov, remoteAddr } = this.ctx;
    const raw = req.rawHeaders;
    const conn = connectionTokens(req.headers.connection);
    const consumer = this.ctx.consumer;
    // Sized once for what is added below (overrides with several values push past it): grown by
    // push, a list of 9+ headers was allocated two or three times over.
    const out: string[] = new Array(raw.length + 18 + (ov ? 2 * ov.size : 0));
    let n = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = lowerName(raw[i]);
      if (HOP_BY_HOP.has(lower) || GATEWAY_SET.has(lower) || conn?.has(lower) || ov?.has(lower)) continue;
      if (consumer !== undefined && (lower === CONSUMER_USERNAME || lower === CONSUMER_CREDENTIAL)) continue;
      out[n++] = raw[i];
      out[n++] = raw[i + 1];
    }
    const h = req.headers;
    if (h['content-length'] !== undefined && h['transfer-encoding'] === undefined) {
      out[n++] = 'content-length';
      out[n++] = h['content-length'];
    }
    const up = this.upstream;
    const hostOv = ov?.get('host');
    const clientHost = this.ctx.authority ?? h.host;
    out[n++] = 'host';
    out[n++] = typeof hostOv === 'string' ? hostOv // proxy-rewrite `host` beats pass_host
      : up.passHost === 'node' ? t.hostHeader
      : up.passHost === 'rewrite' ? (up.upstreamHost ?? t.hostHeader)
      : (clientHost ?? t.hostHeader);
    const xff = h['x-forwarded-for'];
    out[n++] = 'x-forwarded-for';
    out[n++] = xff ? `${xff}, ${remoteAddr}` : remoteAddr;
    out[n++] = 'x-forwarded-proto';
    out[n++] = 'http';
    if (clientHost !== undefined) {
      out[n++] = 'x-forwarded-host';
      out[n++] = clientHost;
    }
    out[n++] = 'x-forwarded-port';
    out[n++] = portText(req.socket.localPort);
    out[n++] = 'x-real-ip';
    out[n++] = remoteAddr;
    if (consumer !== undefined) {
      // (a plugin's value for these comes with the overrides below)
      if (!ov?.has(CONSUMER_USERNAME)) {
        out[n++] = CONSUMER_USERNAME;
        out[n++] = consumer.username;
      }
      if (consumer.credentialId !== undefined && !ov?.has(CONSUMER_CREDENTIAL)) {
        out[n++] = CONSUMER_CREDENTIAL;
        out[n++] = consumer.credentialId;
      }
    }
    out.length = n;
    // (forEach with a shared callback: a for-of over the Map made an iterator and an entry array per header)
    if (ov) ov.forEach(addOverride, out);
    return out;
  }
}

/** A plugin's header for the upstream request (`this`: the list being built); Host is placed by buildHeaders. */
function addOverride(this: string[], value: string | string[] | null, name: string): void {
  if (value === null || name === 'host') return;
  if (typeof value === 'string') this.push(name, value);
  else for (let i = 0; i < value.length; i++) this.push(name, value[i]);
}

let lastPort: number | undefined;
let lastPortText = '';
/** A listener's port as text for x-forwarded-port, kept for the next request (String() made one per request). */
function portText(port: number | undefined): string {
  if (port !== lastPort) {
    lastPort = port;
    lastPortText = String(port ?? '');
  }
  return lastPortText;
}

/**
 * One attempt against one node: the upstream client's handler (@portico/http1, or undici when that is the
 * client: see pools.ts), streaming the response to the client with backpressure.
 *
 * It implements undici's callback interface (onConnect/onHeaders/onData/onComplete/onError)
 * rather than the controller one (onRequestStart/onResponseStart/...): for the latter undici
 * wraps every request in an UnwrapHandler + controller and parses the raw response headers into
 * an object, which the proxy then copied into another object for writeHead. Here the raw header
 * list goes to writeHead as a flat array in one pass (parseHeaders, the copy and node's object
 * iteration were ~3 % of a key-auth request's CPU in a profile).
 */
class Exchange implements UpstreamHandler {
  private abortFn?: (err?: Error) => void;
  /** The own client's withdrawal of a request still waiting for its connection. */
  private cancelFn?: (err?: Error) => void;
  private aborted = false;
  private resumeFn?: () => void;
  private responded = false;
  /** Set when the client left or the connect timer fired: later callbacks are ignored. */
  private abandoned?: Error;
  private connectTimer?: NodeJS.Timeout;
  private finished = false;
  /** performance.now() at dispatch, for the upstream latency histogram. */
  private sentAt = 0;
  /**
   * The client's connection is full and the upstream read waits for its 'drain'; the send
   * timer (made on the first wait, refreshed on the next ones) cuts a client that takes nothing.
   */
  private waitingForClient = false;
  private sendTimer?: NodeJS.Timeout;
  private onClientDrain?: () => void;
  /** The client left (the response's 'close', via the proxy's listener) while this ran. */
  clientClosed(): void {
    if (this.finished) return;
    this.abandon(new Error('client closed the connection'));
  }

  constructor(private readonly fwd: Forwarding, private readonly target: Target, private readonly opts: UpstreamRequest) {}

  start(): void {
    const res = this.fwd.ctx.res;
    (res as ExchangeTagged)[RUNNING_EXCHANGE] = this;
    if (this.fwd.metrics) this.sentAt = performance.now();
    this.target.pool.dispatch(this.opts, this);
    // The clients call onConnect synchronously only when they write the request at once: the
    // own client whenever an idle connection is free; undici, since GHSA-35p6-xmwp-9g52, only
    // after yielding to the check phase (setImmediate) even then, so with undici the timer is
    // armed for most requests. It is cleared in onConnect.
    // The own client times its connection attempts itself (connectTimeout), and reports
    // onPending instead.
    if (!this.abortFn && !this.finished && !this.cancelFn) this.connectTimer = setTimeout(() => this.onConnectTimeout(), this.fwd.connectMs);
  }

  private onConnectTimeout(): void {
    this.connectTimer = undefined;
    if (this.abortFn || this.finished) return;
    const err = Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' });
    this.abandon(err);
    // undici cannot withdraw the queued attempt; it still holds the body.
    this.fwd.failed(this.target, err, false, true);
  }

  private abandon(reason: Error): void {
    if (this.abandoned) return;
    this.abandoned = reason;
    this.finish();
    this.abort(reason);
  }

  private abort(reason: Error): void {
    if (this.aborted) return;
    if (this.abortFn) {
      this.aborted = true;
      this.abortFn(reason);
    } else if (this.cancelFn) {
      this.aborted = true;
      this.cancelFn(reason);
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    // least_conn counts this request as open on the node until now
    this.fwd.upstream.release(this.target);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.sendTimer) clearTimeout(this.sendTimer);
    const res = this.fwd.ctx.res as ExchangeTagged;
    if (res[RUNNING_EXCHANGE] === this) res[RUNNING_EXCHANGE] = undefined;
  }

  onPending(cancel: (err?: Error) => void): void {
    this.cancelFn = cancel;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.connectTimer) {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    }
    if (this.abandoned) this.abort(this.abandoned);
  }

  onHeaders(statusCode: number, raw: Array<Buffer | string>, resume: () => void, statusMessage?: string): boolean {
    if (this.abandoned) return true;
    try {
      return this.relayHead(statusCode, raw, resume, statusMessage);
    } catch (err) {
      // A plugin's header filter threw: the upstream request is cut and this request gets a
      // 500, as when a plugin throws on the way in.
      this.abandon(err instanceof Error ? err : new Error(String(err)));
      replyInternalError(this.fwd.log, this.fwd.ctx.res, err, this.fwd.ctx.route.id);
      return true;
    }
  }

  /** The upstream's status and headers, through the header filters, to the client. */
  private relayHead(statusCode: number, raw: Array<Buffer | string>, resume: () => void, statusMessage?: string): boolean {
    this.resumeFn = resume;
    const ctx = this.fwd.ctx;
    const res = ctx.res;
    this.fwd.metrics?.upstreamLatency(ctx.route.id, performance.now() - this.sentAt);
    // passive health checks and ewma learn from every answer
    // (sentAt is only taken when metrics are on; NaN tells ewma there is no measurement)
    this.fwd.upstream.reportResponse(this.target, statusCode, this.sentAt > 0 ? performance.now() - this.sentAt : NaN);
    let status = statusCode;
    let headers: string[] | Record<string, string | string[]>;
    const chain = ctx.chain;
    if (chain?.hasHeaderFilters) {
      // Header filters work on a name → value(s) object (ResponseHead).
      const out = responseHeaderObject(raw);
      const extra = ctx.responseHeaders;
      if (extra) for (const [k, v] of extra) out[k] = v;
      const head: ResponseHead = { status, headers: out };
      chain.filterResponse(ctx, head);
      status = head.status;
      if (status !== statusCode) statusMessage = undefined;
      if (ctx.responseBody !== undefined) {
        // The upstream body is read and dropped; the replacement is sent at the end.
        delete out['transfer-encoding'];
        delete out['content-encoding'];
        out['content-length'] = String(Buffer.byteLength(ctx.responseBody));
      }
      headers = out;
    } else {
      headers = responseHeaderList(raw, ctx.responseHeaders);
    }
    try {
      res.writeHead(status, relayableReason(statusMessage), headers);
    } catch (err) {
      // A header node refuses to send (invalid characters): treat as a bad upstream answer.
      // node:http keeps the reason it was given even when writeHead throws, and would reuse
      // it for the 502; cleared, the 502 gets its own.
      res.statusMessage = '';
      this.abort(Object.assign(new Error(`invalid response header: ${(err as Error).message}`), { code: 'BAD_RESPONSE' }));
      return true;
    }
    this.responded = true;
    // node:http holds the head until the first body byte; server-sent events and long polls
    // need it now (the own server sends it at the end of the batch itself).
    if (!(res instanceof H1ServerResponse)) flushHeadAtBatchEnd(res);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.abandoned || this.fwd.ctx.responseBody !== undefined) return true;
    const res = this.fwd.ctx.res;
    if (!res.write(chunk)) {
      // The clients pause the upstream read when this returns false, until resume().
      this.waitForClient(res);
      return false;
    }
    return true;
  }

  private waitForClient(res: ClientResponse): void {
    this.onClientDrain ??= () => {
      this.waitingForClient = false;
      this.resumeFn!();
    };
    res.once('drain', this.onClientDrain);
    this.waitingForClient = true;
    if (this.fwd.sendMs <= 0) return;
    if (this.sendTimer) this.sendTimer.refresh();
    else this.sendTimer = setTimeout(() => this.onSendTimeout(), this.fwd.sendMs);
  }

  /** The client took nothing for the send timeout: its connection is cut, which cancels this request. */
  private onSendTimeout(): void {
    if (!this.waitingForClient || this.finished) return;
    this.fwd.log.warn({ route: this.fwd.ctx.route.id, timeoutMs: this.fwd.sendMs }, 'client took no response bytes within the send timeout; closing its connection');
    this.fwd.ctx.res.destroy();
  }

  onComplete(): void {
    if (this.abandoned) return;
    this.finish();
    const replaced = this.fwd.ctx.responseBody;
    this.fwd.ctx.res.end(replaced !== undefined && this.fwd.ctx.method !== 'HEAD' ? replaced : undefined);
  }

  onError(err: Error): void {
    if (this.abandoned) return;
    this.finish();
    if (this.responded) {
      // Mid-body failure: the status line is gone, so the client sees a cut connection.
      this.fwd.log.warn({ route: this.fwd.ctx.route.id, node: this.target.origin, err: err.message },
        'upstream response failed mid-body');
      this.fwd.ctx.res.destroy();
      return;
    }
    this.fwd.failed(this.target, err, this.abortFn !== undefined);
  }
}

/**
 * The upstream's response headers for writeHead as a flat [name, value, ...] list: lower-case
 * names (undici interns the common ones, so no string is made for them), hop-by-hop headers and
 * those named in Connection dropped, and `extra` (headers plugins set on the response)
 * replacing the upstream's headers of the same name.
 */
function responseHeaderList(raw: Array<Buffer | string>, extra: Map<string, string> | undefined): string[] {
  // Sized once, as buildHeaders' list (grown by push, it was allocated twice from 9 headers on).
  const out: string[] = new Array(raw.length + (extra ? 2 * extra.size : 0));
  let n = 0;
  let conn: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = headerNameToString(raw[i]);
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') conn = extraConnectionTokens(latin1(raw[i + 1]));
      continue;
    }
    if (extra?.has(name)) continue;
    out[n++] = name;
    out[n++] = latin1(raw[i + 1]);
  }
  out.length = n;
  // Headers named in Connection (other than the hop-by-hop ones) are rare: filtered afterwards.
  const list = conn ? out.filter((_, i, a) => !conn!.has(a[i - (i % 2)])) : out;
  if (extra) extra.forEach(addResponseExtra, list);
  return list;
}

/** A plugin's response header (`this`: the list being built; Map.forEach, as addOverride). */
function addResponseExtra(this: string[], value: string, name: string): void {
  this.push(name, value);
}

/** The upstream's response headers as the name → value(s) object header filters work on. */
function responseHeaderObject(raw: Array<Buffer | string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  let conn: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = headerNameToString(raw[i]);
    const value = latin1(raw[i + 1]);
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') conn = extraConnectionTokens(value);
      continue;
    }
    if (name === '__proto__') continue; // not a header anyone can mean; never a prototype write
    const cur = out[name];
    if (cur === undefined) out[name] = value;
    else if (Array.isArray(cur)) cur.push(value);
    else out[name] = [cur, value];
  }
  if (conn) for (const name of conn) delete out[name];
  return out;
}

/** node:http's response: what the shutdown and head flushing below use of it. */
type NodeResponse = ClientResponse & { shouldKeepAlive?: boolean; _headerSent?: boolean; flushHeaders?(): void };

/** node:http answers `res` with Connection: close and closes the connection after it (if its head is not out yet). */
function closeAfterAnswer(res: ClientResponse): void {
  (res as NodeResponse).shouldKeepAlive = false;
}

/** More than one Host, or an invalid one (RFC 9112 §3.2): node:http takes them, the own server answers 400. */
function badHost(req: ClientRequest): boolean {
  const raw = req.rawHeaders;
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 4 || lowerName(raw[i]) !== 'host') continue;
    if (seen || !validHost(raw[i + 1])) return true;
    seen = true;
  }
  return false;
}

/** node:http responses whose head waits for a body byte; sent at the end of the batch if none came. */
let headsToFlush: ClientResponse[] = [];

/** RFC 9112 reason-phrase: HTAB, SP, VCHAR and obs-text only. */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The upstream's reason phrase when it may be sent on; otherwise (a control character, which
 * node:http refuses with a throw) undefined, and the client gets the status's standard phrase.
 */
function relayableReason(reason: string | undefined): string | undefined {
  return reason && REASON_PHRASE.test(reason) ? reason : undefined;
}

function flushHeadAtBatchEnd(res: ClientResponse): void {
  if (headsToFlush.push(res) === 1) atBatchEnd(flushHeads);
}

function flushHeads(): void {
  const list = headsToFlush;
  headsToFlush = [];
  for (const res of list as NodeResponse[]) {
    if (!res._headerSent && !res.writableEnded && !res.destroyed) res.flushHeaders?.();
  }
}

/** A raw header value as a string: undici gives Buffers, the own client latin-1 strings. */
function latin1(v: Buffer | string): string {
  return typeof v === 'string' ? v : v.toString('latin1');
}
