import { ClientError } from './errors';

/** What the proxy asks of an upstream client: one request (the shape undici's dispatch takes). */
export interface UpstreamRequest {
  path: string;
  method: string;
  /** Flat [name, value, ...] list. */
  headers: string[];
  /** The client's request body, streamed; null when there is none. */
  body: NodeJS.ReadableStream | null;
  /**
   * ms to wait for a new connection; 0 = none. Read by this client only (undici pools get
   * theirs from the proxy's own timer, as undici cannot withdraw a queued request).
   */
  connectTimeout?: number;
  /** ms from the request being written until the response head; 0 = none. */
  headersTimeout: number;
  /** ms of silence allowed between response body chunks; 0 = none. */
  bodyTimeout: number;
  /** TLS name (https pools only). */
  servername?: string;
}

/** RFC 9110 token: method and header names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field value characters (RFC 9110 §5.5): no CR, LF, NUL or other controls but HTAB. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Request-target characters: visible latin-1, no space or control (as undici checks). */
const BAD_PATH = /[^\u0021-\u00ff]/;

/**
 * Headers this client frames itself; a caller's copy would make the message ambiguous
 * (smuggling), so it is refused as undici refuses it. `content-length` is read, checked
 * and written once.
 */
const FRAMING = new Set(['connection', 'keep-alive', 'upgrade', 'transfer-encoding', 'expect']);

/** The end of a request head that keeps the connection open, and of the last one on it. */
export const HEAD_END_KEEP_ALIVE = 'connection: keep-alive\r\n\r\n';
export const HEAD_END_CLOSE = 'connection: close\r\n\r\n';

export interface RequestHead {
  /** Request line and headers, without the Connection header and the blank line. */
  text: string;
  /** The body is sent chunked (it has no content-length). */
  chunked: boolean;
}

/**
 * The request head for `req`, validated as undici validates it: a bad method, path or header
 * throws a ClientError with code UND_ERR_INVALID_ARG (the proxy answers 400), and nothing is
 * sent. `defaultHost` is used when the caller gave no Host. The connection adds its Connection
 * header and the blank line (`HEAD_END_*`) when it writes the head.
 */
export function buildRequestHead(req: UpstreamRequest, defaultHost: string): RequestHead {
  const { method, path, headers } = req;
  if (!TOKEN.test(method)) throw invalid('invalid request method');
  if (path.charCodeAt(0) !== 47 /* / */ && !(method === 'OPTIONS' && path === '*')) {
    throw invalid('path must start with a slash');
  }
  if (BAD_PATH.test(path)) throw invalid('invalid request path');
  let text = `${method} ${path} HTTP/1.1\r\n`;
  let host = false;
  let length: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    if (typeof name !== 'string' || typeof value !== 'string' || !TOKEN.test(name) || BAD_VALUE.test(value)) {
      throw invalid(`invalid header ${typeof name === 'string' && TOKEN.test(name) ? name : '(name)'}`);
    }
    // Names are compared lower-cased only when their length can match one of the special ones.
    const n = name.length;
    if (n === 4 && name.toLowerCase() === 'host') host = true;
    else if (n === 14 && name.toLowerCase() === 'content-length') {
      const v = value.trim();
      if (!/^\d{1,15}$/.test(v) || (length !== undefined && length !== v)) throw invalid('invalid content-length header');
      length = v;
      continue;
    } else if (n >= 6 && n <= 17 && FRAMING.has(name.toLowerCase())) throw invalid(`invalid ${name.toLowerCase()} header`);
    text += `${name}: ${value}\r\n`;
  }
  if (!host) text += `host: ${defaultHost}\r\n`;
  let chunked = false;
  if (req.body) {
    if (length !== undefined) text += `content-length: ${length}\r\n`;
    else {
      text += 'transfer-encoding: chunked\r\n';
      chunked = true;
    }
  } else if (length !== undefined) {
    // Without a body only 0 is true; anything else would leave the node waiting for bytes.
    if (Number(length) !== 0) throw invalid('content-length without a body');
    text += 'content-length: 0\r\n';
  }
  return { text, chunked };
}

function invalid(message: string): ClientError {
  return new ClientError(message, 'UND_ERR_INVALID_ARG');
}
