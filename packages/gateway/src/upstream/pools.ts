import { createHash } from 'node:crypto';
import net from 'node:net';
import { buildConnector, Pool } from 'undici';
import { componentLogger, type Logger } from '@portico/core';
import { H1Pool, type UpstreamHandler, type UpstreamRequest } from '@portico/http1';
import { chooseClient, type ClientChoice } from '../server/http-stack';

/**
 * Keep-alive connections to one upstream node, as the proxy uses them: Portico's own client
 * (@portico/http1, on node's llhttp) for http and https nodes; an undici Pool, whose `dispatch` takes the
 * same request fields and the same (legacy) handler callbacks, when node's parser is
 * unavailable or `PORTICO_UPSTREAM_CLIENT=undici` is set.
 */
export interface UpstreamPool {
  dispatch(opts: UpstreamRequest, handler: UpstreamHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}


/** Connection settings that make two upstream nodes need different pools. */
export interface PoolSettings {
  /** `keepalive_pool.idle_timeout`, seconds (default 60). */
  idleTimeout?: number;
  /** `keepalive_pool.requests`: requests per connection before it is recycled (default 1000). */
  requests?: number;
  /**
   * `tls.verify` for https nodes. Default true (**Portico differs**: APISIX defaults to false;
   * an unverified https upstream is open to interception, which users do not expect).
   */
  tlsVerify?: boolean;
  /** `tls.client_cert` / `tls.client_key` (PEM): client certificate for mTLS to the node. */
  clientCert?: string;
  clientKey?: string;
}

export interface PoolLease {
  readonly key: string;
  /** The pool's origin (one string shared by every lease of the pool). */
  readonly origin: string;
  readonly pool: UpstreamPool;
}

interface Slot {
  /** The lease every acquirer shares: one object and one key string per pool, not per upstream. */
  lease: PoolLease;
  pool: UpstreamPool;
  refs: number;
  closeTimer?: NodeJS.Timeout;
}

/**
 * Keep-alive pools per upstream node (origin + connection settings), shared by every upstream
 * that lists the node and kept across configuration changes while any upstream still uses it.
 *
 * Upstream runtimes `acquire` a pool when they are built and `release` it when they are
 * replaced; a replacement acquires before the old one releases, so an unchanged node keeps its
 * pool and its warm connections. A pool whose last user is gone lingers for `lingerMs` (a
 * request that picked the node just before the change can still use it), then closes
 * gracefully: in-flight requests finish, idle connections are dropped.
 */
export class PoolManager {
  private readonly slots = new Map<string, Slot>();
  private readonly lingerMs: number;
  private readonly ca?: string | Buffer;
  private readonly log: Logger;
  private closed = false;

  /** Portico's own client sends upstream requests (else undici): see http-stack.ts. */
  private readonly ownClient: boolean;

  /** The client this manager's pools use, for the control API. */
  get clientKind(): ClientChoice {
    return this.ownClient ? 'own' : 'undici';
  }

  constructor(opts: { lingerMs?: number; ca?: string | Buffer; logger?: Logger; client?: ClientChoice } = {}) {
    this.lingerMs = opts.lingerMs ?? 5000;
    this.ca = opts.ca;
    this.log = opts.logger ?? componentLogger('upstream');
    this.ownClient = chooseClient({ upstream_client: opts.client }, this.log) === 'own';
  }

  /** Number of open pools (for tests and the control API). */
  get size(): number {
    return this.slots.size;
  }

  has(origin: string, settings: PoolSettings = {}): boolean {
    return this.slots.has(poolKey(origin, settings));
  }

  acquire(origin: string, settings: PoolSettings = {}): PoolLease {
    const key = poolKey(origin, settings);
    let slot = this.slots.get(key);
    if (!slot) {
      const pool = this.create(origin, settings);
      slot = { lease: { key, origin, pool }, pool, refs: 0 };
      this.slots.set(key, slot);
    }
    if (slot.closeTimer) {
      clearTimeout(slot.closeTimer);
      slot.closeTimer = undefined;
    }
    slot.refs++;
    return slot.lease;
  }

  release(lease: PoolLease): void {
    const slot = this.slots.get(lease.key);
    if (!slot || slot.pool !== lease.pool) return;
    slot.refs--;
    if (slot.refs > 0 || this.closed) return;
    slot.closeTimer = setTimeout(() => {
      if (slot.refs > 0 || this.slots.get(lease.key) !== slot) return;
      this.slots.delete(lease.key);
      slot.pool.close().catch(() => undefined);
    }, this.lingerMs);
    slot.closeTimer.unref();
  }

  /**
   * Closes every pool: in-flight requests may finish until `deadlineMs`, then connections are
   * destroyed.
   */
  async close(deadlineMs = 10_000): Promise<void> {
    this.closed = true;
    const pools = [...this.slots.values()];
    this.slots.clear();
    for (const s of pools) if (s.closeTimer) clearTimeout(s.closeTimer);
    await Promise.all(pools.map(async ({ pool }) => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), deadlineMs);
      });
      const r = await Promise.race([pool.close().then(() => 'ok' as const, () => 'ok' as const), deadline]);
      clearTimeout(timer);
      if (r === 'late') await pool.destroy().catch(() => undefined);
    }));
  }

  private create(origin: string, s: PoolSettings): UpstreamPool {
    const idleMs = Math.max(1, Math.round((s.idleTimeout ?? 60) * 1000));
    if (this.ownClient) {
      return new H1Pool(origin, {
        idleMs,
        maxRequests: s.requests ?? 1000,
        onHandlerError: (err) => this.log.error({ err: (err as Error)?.stack ?? String(err) }, 'upstream response handling failed'),
        // https: `ca` replaces node's default roots (as with nginx's lua_ssl_trusted_certificate;
        // "system" leaves them); verification is on unless `tls.verify` is false.
        tls: origin.startsWith('https:') ? {
          rejectUnauthorized: s.tlsVerify ?? true,
          ca: this.ca,
          cert: s.clientCert && s.clientKey ? s.clientCert : undefined,
          key: s.clientCert && s.clientKey ? s.clientKey : undefined,
        } : undefined,
      });
    }
    const undiciPool = (): UpstreamPool => new Pool(origin, {
      // Concurrency is not capped per node (nginx does not cap active upstream connections).
      connections: null,
      pipelining: 1,
      keepAliveTimeout: idleMs,
      keepAliveMaxTimeout: Math.max(idleMs, 600_000),
      maxRequestsPerClient: s.requests ?? 1000,
      // The per-request connect timeout is enforced by the proxy (it can differ per route);
      // this only bounds a connection attempt nobody waits for any more.
      connectTimeout: 300_000,
      // Per-request headersTimeout/bodyTimeout are set by the proxy from the route timeout.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: origin.startsWith('https:') ? this.tlsConnector(s) : undefined,
    }) as unknown as UpstreamPool;
    return origin.startsWith('https:') ? new PoolPerServername(undiciPool) : undiciPool();
  }

  /**
   * The TLS connector of an undici https pool (the fallback client). The proxy passes the SNI name with every request (so
   * undici does not derive it from the client's Host header, which would both send the wrong
   * name and drop warm connections whenever Host varies); an IP address is not a valid SNI
   * name (RFC 6066), so for IP nodes none is sent and the certificate is checked against the
   * IP itself.
   */
  private tlsConnector(s: PoolSettings): buildConnector.connector {
    const connector = buildConnector({
      timeout: 300_000, // as connectTimeout above: the proxy enforces the per-request one
      // `ca` replaces Node's default roots: with a bundle configured only it is trusted, as
      // with nginx's lua_ssl_trusted_certificate; "system" leaves Node's roots.
      rejectUnauthorized: s.tlsVerify ?? true,
      ...(this.ca ? { ca: this.ca } : {}),
      ...(s.clientCert && s.clientKey ? { cert: s.clientCert, key: s.clientKey } : {}),
    });
    return (opts, cb) => connector(
      { ...opts, servername: opts.servername && net.isIP(opts.servername) ? undefined : opts.servername }, cb);
  }
}

/**
 * The undici fallback's https pool for one node: one undici Pool per SNI name, so that a
 * kept-alive connection serves only requests for the name it was opened and verified with, as
 * the own client's pool does. One undici Pool would close its connection and open another
 * whenever the name changes (two routes to one node with different `upstream_host`s).
 */
class PoolPerServername implements UpstreamPool {
  private readonly pools = new Map<string, UpstreamPool>();
  constructor(private readonly makePool: () => UpstreamPool) {}

  dispatch(opts: UpstreamRequest, handler: UpstreamHandler): boolean {
    const name = opts.servername ?? '';
    let pool = this.pools.get(name);
    if (!pool) {
      pool = this.makePool();
      this.pools.set(name, pool);
    }
    return pool.dispatch(opts, handler);
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
  }
}

function poolKey(origin: string, s: PoolSettings): string {
  // The client certificate is part of the identity of a connection; hashed so key material
  // does not sit in map keys that may be inspected or logged.
  const cert = s.clientCert && s.clientKey
    ? createHash('sha256').update(s.clientCert).update('\0').update(s.clientKey).digest('base64url')
    : '';
  return `${origin}#${s.idleTimeout ?? ''}#${s.requests ?? ''}#${s.tlsVerify ?? ''}#${cert}`;
}
