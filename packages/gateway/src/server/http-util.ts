import type { ClientResponse } from './client-http';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1 plus the legacy ones proxies strip): never forwarded in
 * either direction. Headers named in `Connection` are hop-by-hop too (see connectionTokens).
 */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Lower-cased header names listed in a Connection header value (`close`, `keep-alive`, `x-foo`). */
export function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const joined = Array.isArray(value) ? value.join(',') : value;
  let out: Set<string> | undefined;
  for (const part of joined.split(',')) {
    const t = part.trim().toLowerCase();
    if (t) (out ??= new Set()).add(t);
  }
  return out;
}

const extraTokensCache = new Map<string, Set<string> | undefined>();

/**
 * The Connection tokens of `value` that are not hop-by-hop already (`keep-alive` and `close`
 * need no extra filtering), or undefined when there are none. Cached per value: upstreams
 * send the same one or two values on every response, and splitting them into a new Set per
 * response showed in the profile (~1 %).
 */
export function extraConnectionTokens(value: string): Set<string> | undefined {
  if (extraTokensCache.has(value)) return extraTokensCache.get(value);
  let out: Set<string> | undefined;
  for (const t of connectionTokens(value) ?? []) if (!HOP_BY_HOP.has(t)) (out ??= new Set()).add(t);
  // Bounded: an upstream that varies the value cannot grow the cache without limit.
  if (extraTokensCache.size < 64) extraTokensCache.set(value, out);
  return out;
}

/** Sends a gateway-generated JSON reply (APISIX's `{"error_msg": ...}` and plugin replies). */
export function sendJson(
  res: ClientResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(text));
  if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

export function sendError(res: ClientResponse, status: number, reason: string): void {
  sendJson(res, status, { error_msg: reason });
}

/**
 * The host part of a Host header, lower-cased and without the port (`[::1]:80` → `[::1]`).
 * Undefined for a missing or empty header.
 */
export function hostWithoutPort(host: string | undefined): string | undefined {
  if (!host) return undefined;
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    if (close > 0) end = close + 1;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) end = colon;
  }
  const h = host.slice(0, end).toLowerCase();
  return h.length > 0 ? h : undefined;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`, so IPv4 rules apply to v4-mapped peers of a dual-stack socket. */
export function normalizeRemoteAddress(addr: string | undefined): string {
  if (!addr) return '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/**
 * The path used for matching: percent-decoded (when valid), `//` merged, `.`/`..` segments
 * resolved, as nginx does before APISIX sees `$uri`. Fast path: a path with none of `%`, `//`,
 * `/.` is returned as is. The raw request target is what is forwarded upstream.
 */
export function normalizePath(raw: string): string {
  if (raw.indexOf('%') < 0 && raw.indexOf('//') < 0 && raw.indexOf('/.') < 0) return raw;
  let p = raw;
  if (p.indexOf('%') >= 0) {
    try {
      p = decodeURIComponent(p);
    } catch {
      // invalid escapes are matched literally
    }
  }
  const out: string[] = [];
  const segs = p.split('/');
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i];
    if (s === '' && i < segs.length - 1) continue;
    if (s === '.') {
      if (i === segs.length - 1) out.push('');
      continue;
    }
    if (s === '..') {
      out.pop();
      if (i === segs.length - 1) out.push('');
      continue;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}

/**
 * First value of query parameter `name` in a raw query string (without `?`), decoded; `+` is a
 * space. Undefined when absent.
 */
export function getQueryParam(query: string, name: string): string | undefined {
  if (!query) return undefined;
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    const eq = query.indexOf('=', start);
    const nameEnd = eq >= 0 && eq < end ? eq : end;
    if (decodeComponent(query.slice(start, nameEnd)) === name) {
      return nameEnd === end ? '' : decodeComponent(query.slice(nameEnd + 1, end));
    }
    start = end + 1;
  }
  return undefined;
}

/** The query string with every `name` parameter removed; other pairs keep their encoding. */
export function removeQueryParam(query: string, name: string): string {
  if (!query) return query;
  return query
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      return decodeComponent(eq >= 0 ? pair.slice(0, eq) : pair) !== name;
    })
    .join('&');
}

function decodeComponent(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
