import http from 'node:http';
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
}

/**
 * Keep-alive connections to one plain-HTTP upstream node: the upstream client the proxy uses
 * instead of undici for `http` nodes (bench/README.md, "The upstream client": the same work
 * for less CPU per request).
 *
 * Like the undici pool it replaces (`connections: null`, `pipelining: 1`): a request takes the
 * most recently used idle connection, or opens a new one; the number of connections is not
 * capped, so nothing queues behind a slow request. A connection is reused only after a
 * complete exchange that the node allows to continue, for at most `idleMs` idle (less when
 * the node's Keep-Alive hint is shorter) and `maxRequests` requests.
 */
export class H1Pool implements ConnectionOwner {
  readonly host: string;
  readonly port: number;
  readonly idleMs: number;
  readonly maxRequests: number;
  readonly maxHeaderSize: number;
  readonly onHandlerError: (err: unknown) => void;
  /** Host header when the caller gives none. */
  private readonly defaultHost: string;
  /** Most recently used last. */
  private readonly idle: H1Connection[] = [];
  private readonly connections = new Set<H1Connection>();
  private closing = false;
  private drained?: () => void;

  /** `origin`: `http://host:port` (IPv6 hosts bracketed). */
  constructor(origin: string, opts: H1PoolOptions) {
    const url = new URL(origin);
    if (url.protocol !== 'http:') throw new Error(`H1Pool serves http origins only, not ${url.protocol}`);
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port ? Number(url.port) : 80;
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
      req = new H1Request(opts, handler, buildRequestHead(opts, this.defaultHost));
    } catch (err) {
      handler.onError(err as Error);
      return false;
    }
    const conn = this.idle.pop();
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

  private open(req: H1Request): void {
    this.connections.add(new H1Connection(this, req));
  }
}

function poolClosed(): ClientError {
  return new ClientError('the upstream pool is closed', 'UND_ERR_CLOSED');
}
