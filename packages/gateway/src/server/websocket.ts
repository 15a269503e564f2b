import http, { type IncomingMessage } from 'node:http';
import type { ClientRequest } from './client-http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '@portico/core';
import type { RequestContext } from './request-context';
import { connectionTokens, HOP_BY_HOP } from './http-util';
import type { PluginResponse } from '../plugins';
import type { RouteRuntime } from '../config/gateway-tables';
import type { Target, UpstreamRuntime } from '../upstream/upstream';

/**
 * HTTP Upgrade (websocket) proxying for routes with `enable_websocket` (SPEC §7, APISIX
 * `enable_websocket`).
 *
 * node:http hands an upgrade request to the server's 'upgrade' listener with the raw socket
 * (its HTTP parser detached). The proxy wraps that socket in a ServerResponse (`upgradeResponse`)
 * so routing, plugins and gateway replies (404, 401, 502…) run exactly as for other requests.
 * When the request is to be forwarded:
 * - route with `enable_websocket`: `tunnel` connects to a node, writes the request head with
 *   `Upgrade`/`Connection: upgrade` restored (every other hop-by-hop header stripped), relays
 *   the upstream's response head, and then pipes bytes both ways (stream.pipe: backpressure).
 * - route without it: APISIX forwards the request as plain HTTP (nginx sends no Upgrade
 *   header unless enabled), so the upstream answers it as an ordinary request; the proxy does
 *   the same through its normal forwarding path and closes the connection afterwards.
 */

const REQUEST_HEAD = Symbol('portico.upgradeHead');
type UpgradeRequest = ClientRequest & { [REQUEST_HEAD]?: Buffer };

/** Largest upstream response head read before the tunnel gives up (a 101 head is tiny). */
const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * A ServerResponse writing to an upgrade request's raw socket, closed after one response
 * (the connection cannot go back to the HTTP parser).
 */
export function upgradeResponse(req: ClientRequest, socket: Duplex, head: Buffer): http.ServerResponse {
  (req as UpgradeRequest)[REQUEST_HEAD] = head;
  // (node's ServerResponse reads only the request's method, version and headers)
  const res = new http.ServerResponse(req as IncomingMessage);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as net.Socket);
  res.once('finish', () => socket.end());
  socket.on('error', () => socket.destroy()); // a reset client: 'close' follows and cleans up
  return res;
}

/** True for a request that arrived through the 'upgrade' event. */
export function isUpgrade(req: ClientRequest): boolean {
  return (req as UpgradeRequest)[REQUEST_HEAD] !== undefined;
}

/**
 * `enable_websocket` of the route, else of its service. RouteRuntime carries the merged
 * value as `enableWebsocket` when tables provide it; otherwise only the route's own flag is seen.
 */
export function websocketEnabled(route: RouteRuntime): boolean {
  const merged = (route as { enableWebsocket?: boolean }).enableWebsocket;
  return merged ?? (route.conf as { enable_websocket?: boolean }).enable_websocket === true;
}

export interface TunnelOptions {
  ctx: RequestContext;
  upstream: UpstreamRuntime;
  /** Upstream request headers as for a plain request (hop-by-hop already removed), flat name/value list. */
  headers: (t: Target) => string[];
  connectMs: number;
  /**
   * An established tunnel with no traffic either way for this long is closed (the route's
   * `timeout.read`, as nginx's proxy_read_timeout closes an idle websocket; clients keep
   * long-lived sockets open with pings).
   */
  idleMs: number;
  /** CA bundle for https nodes (`apisix.ssl.ssl_trusted_certificate`); system store when undefined. */
  ca?: string | Buffer;
  reply: (r: PluginResponse) => void;
  log: Logger;
  /** Called with the upstream's status code once its response head arrived. */
  onStatus?: (status: number, latencyMs: number) => void;
}

/** Proxies one upgrade request to a node of `upstream` and pipes the connection both ways. */
export function tunnel(o: TunnelOptions): void {
  const { ctx, upstream } = o;
  const client = ctx.res.socket;
  if (!client || client.destroyed) return;
  const t = upstream.pick(undefined, ctx);
  if (!t) return o.reply({ status: 502, body: { error_msg: 'no valid upstream node' } });
  const started = performance.now();
  const node = t.node;
  const up: net.Socket = upstream.scheme === 'https'
    ? tls.connect({
      host: node.host,
      port: node.port,
      // same TLS settings as the upstream's pools (pools.ts): verified unless tls.verify is false
      servername: t.servername && !net.isIP(t.servername) ? t.servername : undefined,
      rejectUnauthorized: upstream.conf.tls?.verify ?? true,
      ...(o.ca ? { ca: o.ca } : {}),
      ...(upstream.conf.tls?.client_cert && upstream.conf.tls.client_key
        ? { cert: upstream.conf.tls.client_cert, key: upstream.conf.tls.client_key } : {}),
    })
    : net.connect({ host: node.host, port: node.port });
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    upstream.release(t);
  };
  const timer = setTimeout(() => fail(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' })), o.connectMs);
  let headDone = false;
  const fail = (err: Error & { code?: string }): void => {
    clearTimeout(timer);
    up.destroy();
    release();
    if (headDone) return void client.destroy();
    const timedOut = err.code === 'CONNECT_TIMEOUT' || err.code === 'ETIMEDOUT';
    o.log.warn({ route: ctx.route.id, node: t.origin, code: err.code, err: err.message }, 'websocket upstream failed');
    o.reply(timedOut
      ? { status: 504, body: { error_msg: 'upstream timed out' } }
      : { status: 502, body: { error_msg: 'failed to connect to upstream' } });
  };
  up.on('error', fail);
  // The client leaving at any point tears the upstream side down (and vice versa, below).
  const onClientClose = (): void => {
    clearTimeout(timer);
    up.destroy();
    release();
  };
  client.once('close', onClientClose);
  up.once(upstream.scheme === 'https' ? 'secureConnect' : 'connect', () => {
    clearTimeout(timer);
    up.setNoDelay(true);
    up.write(requestHead(ctx, o.headers(t)));
    const rest = (ctx.req as UpgradeRequest)[REQUEST_HEAD];
    if (rest && rest.length > 0) up.write(rest);
    readResponseHead(up, (head, after) => {
      headDone = true;
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      o.onStatus?.(status, performance.now() - started);
      client.write(responseHead(head, status === 101));
      if (after.length > 0) client.write(after);
      // Ends propagate through pipe() (half-close); a reset upstream fails via 'error' above.
      client.once('close', () => up.destroy());
      up.pipe(client);
      if (status === 101) client.pipe(up);
      up.setTimeout(o.idleMs, () => {
        o.log.info({ route: ctx.route.id, node: t.origin, idleMs: o.idleMs }, 'websocket tunnel idle; closing');
        up.destroy();
        client.destroy();
      });
    }, fail);
  });
}

/** The request line and headers for the upstream, with the upgrade negotiation restored. */
function requestHead(ctx: RequestContext, headers: string[]): string {
  let s = `${ctx.upstreamMethod ?? ctx.method} ${ctx.upstreamPath} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`;
  const upgrade = ctx.req.headers.upgrade ?? 'websocket';
  return `${s}upgrade: ${upgrade}\r\nconnection: upgrade\r\n\r\n`;
}

/**
 * Reads from `up` until the end of the response head; bytes after it (the first frames) are
 * handed on. The socket is paused meanwhile so nothing is lost before pipe() takes over.
 */
function readResponseHead(up: net.Socket, done: (head: string, after: Buffer) => void, fail: (err: Error) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buf.length > MAX_RESPONSE_HEAD) {
        up.off('data', onData);
        fail(Object.assign(new Error('upstream response head too large'), { code: 'BAD_RESPONSE' }));
      }
      return;
    }
    up.off('data', onData);
    up.off('end', onEnd);
    up.pause();
    done(buf.subarray(0, end).toString('latin1'), buf.subarray(end + 4));
  };
  const onEnd = (): void => fail(Object.assign(new Error('upstream closed before responding'), { code: 'ECONNRESET' }));
  up.on('data', onData);
  up.once('end', onEnd);
}

/**
 * The upstream's response head for the client. Hop-by-hop headers (RFC 9110 §7.6.1) are
 * dropped except, on a 101, `Upgrade` and `Connection: upgrade`, which belong to the
 * negotiation the client asked for; any other answer ends the connection (`Connection: close`).
 */
function responseHead(head: string, switching: boolean): string {
  const lines = head.split('\r\n');
  const named = new Set<string>();
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c > 0 && l.slice(0, c).trim().toLowerCase() === 'connection') {
      for (const tok of connectionTokens(l.slice(c + 1)) ?? []) named.add(tok);
    }
  }
  let out = lines[0] + '\r\n';
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c <= 0) continue;
    const name = l.slice(0, c).trim().toLowerCase();
    if (switching && name === 'upgrade') {
      out += l + '\r\n';
      continue;
    }
    // A non-101 answer's body is relayed as sent, so its framing header must stay.
    const framing = !switching && name === 'transfer-encoding';
    if (!framing && (HOP_BY_HOP.has(name) || named.has(name))) continue;
    out += l + '\r\n';
  }
  out += switching ? 'connection: upgrade\r\n' : 'connection: close\r\n';
  return out + '\r\n';
}
