import type { ClientRequest, ClientResponse } from './client-http';
import type { ConsumerIndex, KeyOwner } from '../auth/consumer-index';
import { getQueryParam, removeQueryParam } from './http-util';
import { lowerName } from '@portico/http1';
import type { PluginChain } from '../plugins/pipeline';
import type { MatchRequest } from '../routing/router';
import type { RouteRuntime } from '../config/gateway-tables';

/** The headers that tell the upstream which consumer an auth plugin found (APISIX's attach_consumer). */
export const CONSUMER_USERNAME = 'x-consumer-username';
export const CONSUMER_CREDENTIAL = 'x-credential-identifier';

/**
 * One request on its way through the gateway: what the router matched on, what plugins
 * decided (consumer, header and query changes for the upstream), and the services they use.
 * Header changes are recorded as overrides and applied when the upstream request is built,
 * so a request no plugin touches copies nothing.
 */
export class RequestContext implements MatchRequest {
  route!: RouteRuntime;
  /**
   * Attached by an auth plugin (attachConsumer). Sent upstream as CONSUMER_USERNAME and
   * CONSUMER_CREDENTIAL in place of the client's (Forwarding.buildHeaders), unless a plugin sets
   * those headers after the auth plugin ran.
   */
  consumer?: KeyOwner;
  /** lower-case name → value(s) to send upstream, or null to drop the client's header */
  headerOverrides?: Map<string, string | string[] | null>;
  /** The route's plugins preceded by the global rules (set by the proxy; header filters run from it). */
  chain?: PluginChain;
  /** Path (without query) to send upstream instead of the client's (proxy-rewrite). */
  upstreamUri?: string;
  /** Method to send upstream instead of the client's (proxy-rewrite). */
  upstreamMethod?: string;
  /** Headers an access-phase plugin adds to the response, whatever answers (limit-count quota, request-id). */
  responseHeaders?: Map<string, string>;
  /** A body that replaces the response body (response-rewrite); set by a header filter. */
  responseBody?: string;
  /**
   * The authority of an absolute-form request-target (`GET http://a.example/x`), which replaces
   * the Host header (RFC 9112 §3.2.2): sent upstream as Host and X-Forwarded-Host.
   */
  authority?: string;

  constructor(
    readonly req: ClientRequest,
    readonly res: ClientResponse,
    readonly consumers: ConsumerIndex,
    /** Normalised path used for matching. */
    readonly path: string,
    /** Path part of the request target, as received (forwarded upstream). */
    readonly rawPath: string,
    /** Query string without `?` (plugins may change it). */
    public query: string,
    /** Lower-case host without port, from the Host header. */
    readonly host: string | undefined,
    readonly remoteAddr: string,
  ) {}

  get method(): string {
    return this.req.method ?? 'GET';
  }

  /** A request header as the client sent it (repeated ones joined with ", "). */
  header(name: string): string | undefined {
    const v = this.req.headers[lowerName(name)];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  /** Sets (or with null removes) a header on the upstream request. */
  setUpstreamHeader(name: string, value: string | string[] | null): void {
    (this.headerOverrides ??= new Map()).set(lowerName(name), value);
  }

  /** Sets a header on the response to the client (upstream answer or plugin reply). */
  setResponseHeader(name: string, value: string): void {
    (this.responseHeaders ??= new Map()).set(lowerName(name), value);
  }

  /** The value a header will have upstream: a plugin's override, else the client's. */
  upstreamHeader(name: string): string | string[] | undefined {
    const lower = lowerName(name);
    const ov = this.headerOverrides?.get(lower);
    if (ov !== undefined) return ov ?? undefined;
    if (this.consumer !== undefined) {
      if (lower === CONSUMER_USERNAME) return this.consumer.username;
      if (lower === CONSUMER_CREDENTIAL) return this.consumer.credentialId;
    }
    return this.req.headers[lower];
  }

  /** Appends a value to a header on the upstream request, keeping the values already there. */
  addUpstreamHeader(name: string, value: string): void {
    const cur = this.upstreamHeader(name);
    this.setUpstreamHeader(name, cur === undefined ? value : [...(Array.isArray(cur) ? cur : [cur]), value]);
  }

  arg(name: string): string | undefined {
    return getQueryParam(this.query, name);
  }

  removeArg(name: string): void {
    this.query = removeQueryParam(this.query, name);
  }

  /** Request target for the upstream. */
  get upstreamPath(): string {
    const path = this.upstreamUri ?? this.rawPath;
    if (!this.query) return path;
    // A rewritten uri may carry its own query: the client's arguments are appended (APISIX).
    return `${path}${path.includes('?') ? '&' : '?'}${this.query}`;
  }

  /** Variables for route `vars` (nginx names). */
  lookupVar(name: string): string | undefined {
    switch (name) {
      case 'uri': return this.path;
      case 'request_uri': return this.req.url;
      case 'request_method': return this.method;
      case 'host': return this.host;
      case 'remote_addr': return this.remoteAddr;
      case 'args': case 'query_string': return this.query;
      case 'scheme': return 'http';
      case 'server_port': return String(this.req.socket.localPort ?? '');
      case 'server_addr': return this.req.socket.localAddress;
    }
    if (name.startsWith('arg_')) return this.arg(name.slice(4));
    if (name.startsWith('http_')) return this.header(name.slice(5).replace(/_/g, '-'));
    if (name.startsWith('cookie_')) return cookieValue(this.header('cookie'), name.slice(7));
    return undefined;
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
