import { ClientError } from './errors';
import { isName, lowerName } from './header-names';
import { HeadBytes } from './pieces';

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
const HEAD_END_KEEP_ALIVE = 'connection: keep-alive\r\n\r\n';
const HEAD_END_CLOSE = Buffer.from('connection: close\r\n\r\n', 'latin1');

export interface RequestHead {
  /** The whole head in latin-1, for a connection kept open (`HEAD_END_KEEP_ALIVE`); see `closingHead`. */
  bytes: Buffer;
  /** The body is sent chunked (it has no content-length). */
  chunked: boolean;
}

/**
 * The request head for `req`, validated as undici validates it: a bad method, path or header
 * throws a ClientError with code UND_ERR_INVALID_ARG (the proxy answers 400), and nothing is
 * sent. `defaultHost` is used when the caller gave no Host. The head ends with
 * `HEAD_END_KEEP_ALIVE`; the last request on a connection is sent as `closingHead(bytes)`.
 */
export function buildRequestHead(req: UpstreamRequest, defaultHost: string): RequestHead {
  const { method, path, headers } = req;
  if (!TOKEN.test(method)) throw invalid('invalid request method');
  if (path.charCodeAt(0) !== 47 /* / */ && !(method === 'OPTIONS' && path === '*')) {
    throw invalid('path must start with a slash');
  }
  if (BAD_PATH.test(path)) throw invalid('invalid request path');
  const parts = HEAD_PARTS.start().add(method).add(' ').add(path).add(' HTTP/1.1\r\n');
  let host = false;
  let length: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const value = headers[i + 1];
    if (typeof name !== 'string' || typeof value !== 'string' || !TOKEN.test(name) || BAD_VALUE.test(value)) {
      throw invalid(`invalid header ${typeof name === 'string' && TOKEN.test(name) ? name : '(name)'}`);
    }
    // (names compared in any case without lower-casing them: header-names.ts)
    if (isName(name, 'host')) host = true;
    else if (isName(name, 'content-length')) {
      const v = value.trim();
      if (!/^\d{1,15}$/.test(v) || (length !== undefined && length !== v)) throw invalid('invalid content-length header');
      length = v;
      continue;
    } else if (name.length >= 6 && name.length <= 17 && FRAMING.has(lowerName(name))) throw invalid(`invalid ${lowerName(name)} header`);
    parts.add(name).add(': ').add(value).add('\r\n');
  }
  if (!host) parts.add('host: ').add(defaultHost).add('\r\n');
  let chunked = false;
  if (req.body) {
    if (length !== undefined) parts.add('content-length: ').add(length).add('\r\n');
    else {
      parts.add('transfer-encoding: chunked\r\n');
      chunked = true;
    }
  } else if (length !== undefined) {
    // Without a body only 0 is true; anything else would leave the node waiting for bytes.
    if (Number(length) !== 0) throw invalid('content-length without a body');
    parts.add('content-length: 0\r\n');
  }
  const bytes = parts.add(HEAD_END_KEEP_ALIVE).finish();
  return { bytes, chunked };
}

/** `bytes` (a RequestHead's) as the last request on its connection: Connection: close. */
export function closingHead(bytes: Buffer): Buffer {
  return Buffer.concat([bytes.subarray(0, bytes.length - HEAD_END_KEEP_ALIVE.length), HEAD_END_CLOSE]);
}

/** The request head being built. */
const HEAD_PARTS = new HeadBytes();

function invalid(message: string): ClientError {
  return new ClientError(message, 'UND_ERR_INVALID_ARG');
}
