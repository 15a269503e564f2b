import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { H1Connection, H1Request, notifyError, type ConnectionOwner } from './connection';
import { ClientError } from './errors';
import type { UpstreamHandler } from './handler';
import { buildRequestHead, type UpstreamRequest } from './request-head';

export interface H1PoolOptions {
  /** `keepalive_pool.idle_timeout`, ms. */
  idleMs: number;
  /** `keepalive_pool.requests`: requests per connection before it is closed. */
  maxRequests: number;
  /** Response head size limit (bytes); default node's `http.maxHeaderSize`. */
  maxHeaderSize?: number;
  /**
   * A handler threw where its request could not fail any more (onComplete, onError). The
   * connection is closed either way; default: a process warning.
   */
  onHandlerError?: (err: unknown) => void;
  /** https origins: verification, trusted CAs and the client certificate (mTLS). */
  tls?: H1TlsOptions;
}

/** The TLS settings of an https pool (node's `tls.connect` options of the same names). */
export interface H1TlsOptions {
  /** Default true. */
  rejectUnauthorized?: boolean;
  /** Replaces node's default roots when set. */
  ca?: string | Buffer;
  cert?: string;
  key?: string;
}

/**
 * Keep-alive connections to one upstream node, http or https: the upstream client the proxy
 * uses instead of undici: the same work for less CPU per request (docs/performance.md), and
 * the keep-alive race, connect timeouts and SNI-keyed reuse handled as nginx does.
 *
 * Like the undici pool it replaces (`connections: null`, `pipelining: 1`): a request takes the
 * most recently used idle connection, or opens a new one; the number of connections is not
 * capped, so nothing queues behind a slow request. A connection is reused only after a
 * complete exchange that the node allows to continue, for at most `idleMs` idle (less when
 * the node's Keep-Alive hint is shorter) and `maxRequests` requests.
 *
 * https: each request names its SNI server name (`servername`; none for an IP address, whose
 * certificate is then checked against the IP, as undici's connector does) and only takes an
 * idle connection opened with the same name; the certificate is checked against that name.
 */
export class H1Pool implements ConnectionOwner {
  readonly host: string;
  readonly port: number;
  readonly idleMs: number;
  readonly maxRequests: number;
  readonly maxHeaderSize: number;
  readonly onHandlerError: (err: unknown) => void;
  /** An https origin: connections are TLS, ready on 'secureConnect'. */
  readonly secure: boolean;
  private readonly tls?: H1TlsOptions;
  /**
   * TLS sessions to resume, by SNI name ('' for none), as undici's connector keeps them: a new
   * connection to a node it has already talked to skips the full handshake.
   */
  private readonly sessions = new Map<string, Buffer>();
  /** Host header when the caller gives none. */
  private readonly defaultHost: string;
  /** Most recently used last. */
  private readonly idle: H1Connection[] = [];
  private readonly connections = new Set<H1Connection>();
  private closing = false;
  private drained?: () => void;

  /** `origin`: `http(s)://host:port` (IPv6 hosts bracketed). */
  constructor(origin: string, opts: H1PoolOptions) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`H1Pool serves http and https origins, not ${url.protocol}`);
    this.secure = url.protocol === 'https:';
    if (this.secure) this.tls = opts.tls ?? {};
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port ? Number(url.port) : this.secure ? 443 : 80;
    this.defaultHost = url.host;
    this.idleMs = opts.idleMs;
    this.maxRequests = Math.max(1, opts.maxRequests);
    this.maxHeaderSize = opts.maxHeaderSize ?? http.maxHeaderSize;
    this.onHandlerError = opts.onHandlerError ?? ((err) => process.emitWarning(`upstream client handler failed: ${String(err)}`));
  }

  /** Open connections (busy or idle). */
  get size(): number {
    return this.connections.size;
  }

  /**
   * Starts `opts` on an idle connection (the handler's onConnect runs before this returns) or
   * on a new one (onPending runs instead). An invalid request fails through onError at once.
   */
  dispatch(opts: UpstreamRequest, handler: UpstreamHandler): boolean {
    // Refusals are reported synchronously, as undici does; the caller's stack is its own.
    if (this.closing) {
      handler.onError(poolClosed());
      return false;
    }
    let req: H1Request;
    try {
      req = new H1Request(opts, handler, buildRequestHead(opts, this.defaultHost), this.serverName(opts.servername));
    } catch (err) {
      handler.onError(err as Error);
      return false;
    }
    const conn = this.takeIdle(req.servername);
    if (conn) conn.start(req);
    else {
      this.open(req);
      handler.onPending?.(req.abort);
    }
    return true;
  }

  /** Stops taking requests; resolves when the running ones have finished. Idle connections close now. */
  close(): Promise<void> {
    this.closing = true;
    for (const c of this.idle.splice(0)) c.destroy(poolClosed());
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  /** Closes every connection now; running requests fail. */
  destroy(): Promise<void> {
    this.closing = true;
    for (const c of [...this.connections]) c.destroy(new ClientError('the upstream pool was destroyed', 'UND_ERR_DESTROYED'));
    return Promise.resolve();
  }

  onIdle(conn: H1Connection): void {
    if (this.closing) conn.destroy(poolClosed());
    else this.idle.push(conn);
  }

  onGone(conn: H1Connection): void {
    this.connections.delete(conn);
    const i = this.idle.lastIndexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.closing && this.connections.size === 0 && this.drained) {
      const done = this.drained;
      this.drained = undefined;
      done();
    }
  }

  retry(req: H1Request): void {
    // A new connection, not another idle one: that could be just as stale.
    if (this.closing) notifyError(req, poolClosed(), this);
    else this.open(req);
  }

  /** A new socket to the node; TLS with `servername` as SNI and identity for https. */
  connect(servername: string | undefined, onread: net.OnReadOpts): net.Socket {
    if (!this.tls) return net.connect({ host: this.host, port: this.port, onread });
    const key = servername ?? '';
    // node's tls.connect takes `onread` when it opens the socket itself (no `socket` option, as
    // here; h1-pool.test's https cases depend on it), but @types/node's ConnectionOptions lacks it.
    const options: tls.ConnectionOptions & { onread: net.OnReadOpts } = {
      host: this.host,
      port: this.port,
      servername,
      // as undici's connector: the node may offer h2, but this client speaks HTTP/1.1
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: this.tls.rejectUnauthorized ?? true,
      ...(this.tls.ca ? { ca: this.tls.ca } : {}),
      ...(this.tls.cert && this.tls.key ? { cert: this.tls.cert, key: this.tls.key } : {}),
      session: this.sessions.get(key),
      onread,
    };
    const socket = tls.connect(options);
    socket.on('session', (session: Buffer) => {
      // One pool reaches one node, under a name or two; the bound only guards against a
      // caller that varies the name per request.
      if (!this.sessions.has(key) && this.sessions.size >= MAX_TLS_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
      this.sessions.set(key, session);
    });
    return socket;
  }

  /**
   * The SNI name for a request: the caller's, else the node's host name; never an IP address
   * (RFC 6066), so an IP node's certificate is checked against the IP. None for http.
   */
  private serverName(requested: string | undefined): string | undefined {
    if (!this.secure) return undefined;
    const name = requested ?? this.host;
    return net.isIP(name) ? undefined : name;
  }

  /** The most recently used idle connection opened for `servername`. */
  private takeIdle(servername: string | undefined): H1Connection | undefined {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i];
      if (conn.servername !== servername) continue;
      if (i === this.idle.length - 1) this.idle.pop();
      else this.idle.splice(i, 1);
      return conn;
    }
    return undefined;
  }

  private open(req: H1Request): void {
    this.connections.add(new H1Connection(this, req));
  }
}

/** TLS sessions kept per pool (undici's connector keeps 100). */
const MAX_TLS_SESSIONS = 100;

function poolClosed(): ClientError {
  return new ClientError('the upstream pool is closed', 'UND_ERR_CLOSED');
}
