/**
 * Node's own llhttp binding, the HTTP/1.1 parser behind node:http (`_http_common`'s
 * `HTTPParser`). The upstream client frames responses with it, so chunked bodies, header size
 * limits, CL/TE conflicts and the other strictness rules are node's, not hand-written.
 *
 * `_http_common` is a public but undocumented module, and node has discussed making it
 * internal (nodejs/node#58534). It is looked up once here; when it is missing or its shape has
 * changed, `nativeParser` is undefined and the pool manager uses undici for every origin, so a
 * future node degrades to the slower client instead of failing.
 */

/** The parser callbacks, at the indexes node's binding reads them from. */
export interface NativeParserCallbacks {
  /** Headers flushed early (many headers, or a head split over several reads). */
  onHeaders(headers: string[], url: string): void;
  /** Return 1 to tell the parser the message has no body (a response to HEAD, or a 1xx). */
  onHeadersComplete(
    versionMajor: number, versionMinor: number, headers: string[] | undefined, method: number | undefined,
    url: string | undefined, statusCode: number, statusMessage: string, upgrade: boolean, shouldKeepAlive: boolean,
  ): number | void;
  onBody(chunk: Buffer): void;
  onMessageComplete(): void;
  /** After each read the parser took from the socket itself (`consumeReads`): bytes parsed, or the error. */
  onExecute?(ret: number | Error): void;
}

export interface NativeParser {
  /** Bytes consumed, or the parse error (its `code` is `HPE_*`). */
  execute(data: Buffer): number | Error;
  /** End of input: completes a close-delimited body, or returns the error for a cut message. */
  finish(): undefined | Error;
  close(): void;
}

/** The native parser's own methods for reading a socket (node:http's server uses them). */
interface ConsumingParser extends NativeParser {
  consume(handle: unknown): void;
  unconsume(): void;
}

/** The libuv stream handle behind a net.Socket (`socket._handle`). */
interface StreamHandle {
  isStreamBase?: boolean;
  _consumed?: boolean;
  reading?: boolean;
  readStart(): number;
  readStop(): number;
}

interface ParserModule {
  HTTPParser: {
    new (): Record<number | string, unknown> & NativeParser & { initialize(...args: unknown[]): void };
    RESPONSE: number;
    REQUEST: number;
    /** Indexes the binding reads the callbacks from. */
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute?: number;
    kOnMessageBegin?: number;
    kLenientNone?: number;
  };
}

function load(): ParserModule['HTTPParser'] | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('_http_common') as Partial<ParserModule>;
    const P = mod.HTTPParser;
    if (typeof P !== 'function' || typeof P.RESPONSE !== 'number' || typeof P.REQUEST !== 'number') return undefined;
    for (const k of ['kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete'] as const) {
      if (typeof P[k] !== 'number') return undefined;
    }
    const probe = new P();
    for (const m of ['initialize', 'execute', 'finish', 'close'] as const) if (typeof probe[m] !== 'function') return undefined;
    probe.close();
    return P;
  } catch {
    return undefined;
  }
}

const HTTPParser = load();

/** Whether node's parser could be loaded (else the pool manager uses undici for http origins). */
export const nativeParserAvailable = HTTPParser !== undefined;

/**
 * A response parser for one connection. `maxHeaderSize` bounds the whole response head (node
 * reports HPE_HEADER_OVERFLOW beyond it); no lenient flags: a malformed response is an error.
 */
export function createResponseParser(cb: NativeParserCallbacks, maxHeaderSize: number): NativeParser {
  return createParser('RESPONSE', cb, maxHeaderSize);
}

/**
 * A request parser for one server connection, with node:http's server settings: no lenient
 * flags (conflicting Content-Length / Transfer-Encoding and the other smuggling vectors are
 * errors) and `maxHeaderSize` for the whole head (HPE_HEADER_OVERFLOW beyond it).
 * `onMessageBegin` is told of each request's first byte.
 */
export function createRequestParser(cb: NativeParserCallbacks & { onMessageBegin(): void }, maxHeaderSize: number): ServerParser {
  return createParser('REQUEST', cb, maxHeaderSize) as ServerParser;
}

function createParser(type: 'REQUEST' | 'RESPONSE', cb: NativeParserCallbacks & { onMessageBegin?(): void }, maxHeaderSize: number): NativeParser {
  if (!HTTPParser) throw new Error('node\'s HTTP parser is not available');
  const p = new HTTPParser();
  p.initialize(HTTPParser[type], {}, maxHeaderSize, HTTPParser.kLenientNone ?? 0);
  if (cb.onMessageBegin && HTTPParser.kOnMessageBegin !== undefined) p[HTTPParser.kOnMessageBegin] = cb.onMessageBegin;
  p[HTTPParser.kOnHeaders] = cb.onHeaders;
  p[HTTPParser.kOnHeadersComplete] = cb.onHeadersComplete;
  p[HTTPParser.kOnBody] = cb.onBody;
  p[HTTPParser.kOnMessageComplete] = cb.onMessageComplete;
  if (HTTPParser.kOnExecute !== undefined && cb.onExecute) p[HTTPParser.kOnExecute] = cb.onExecute;
  return p;
}

/**
 * Sets or clears the parser's body callback. Node's binding looks it up for every body chunk,
 * and copies the chunk into a new Buffer (an ArrayBuffer of its own, swept by every scavenge)
 * only when one is set: a caller that takes a body's bytes from its read buffer itself clears it
 * for that message, and the parser still frames the body (counts it, finds the message end).
 */
export function setBodyCallback(parser: NativeParser, onBody: ((chunk: Buffer) => void) | undefined): void {
  (parser as unknown as Record<number, unknown>)[HTTPParser!.kOnBody] = onBody;
}

/** The request parser's extra methods (node:http's server uses them the same way). */
export interface ServerParser extends NativeParser {
  /** The buffer of the read being parsed (the bytes after an upgrade request's head). */
  getCurrentBuffer(): Buffer;
  /** Lets a parser stopped by its head callback (HPE_PAUSED) go on with the next execute. */
  resume(): void;
}

/**
 * Names llhttp knows besides http.METHODS (node:http's server takes its request method from
 * the same full list, `allMethods`, which node does not export).
 */
const OTHER_METHODS = ['QUERY', 'PRI', 'DESCRIBE', 'ANNOUNCE', 'SETUP', 'PLAY', 'PAUSE', 'TEARDOWN', 'GET_PARAMETER',
  'SET_PARAMETER', 'REDIRECT', 'RECORD', 'FLUSH', 'SOURCE'];

/**
 * Method names by the parser's method index: found by parsing one request per name, since
 * node's `methods` list is not indexed by llhttp's numbers (QUERY is 46 but sits at 34 there,
 * and a method missing from the table would be taken for another).
 */
export const HTTP_METHODS: readonly string[] = (() => {
  const out: string[] = [];
  if (!HTTPParser) return out;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const names = new Set([...(require('node:http') as { METHODS: string[] }).METHODS, ...OTHER_METHODS]);
  for (const name of names) {
    let index: number | undefined;
    const p = new HTTPParser();
    p.initialize(HTTPParser.REQUEST, {}, 0, HTTPParser.kLenientNone ?? 0);
    p[HTTPParser.kOnHeadersComplete] = (_major: number, _minor: number, _headers: unknown, method: number) => {
      index = method;
      return 0;
    };
    p[HTTPParser.kOnHeaders] = () => undefined;
    p[HTTPParser.kOnBody] = () => undefined;
    p[HTTPParser.kOnMessageComplete] = () => undefined;
    p.execute(Buffer.from(`${name} / HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1'));
    p.close();
    if (typeof index === 'number' && out[index] === undefined) out[index] = name;
  }
  return out;
})();

/**
 * Frees `parser` once the current stack has unwound. A parser must not be freed from inside
 * one of its own callbacks, nor from a nextTick those callbacks scheduled (they run before the
 * native code that called them returns): that is a use-after-free. node:http defers it the
 * same way (freeParser's setImmediate).
 */
export function closeParserLater(parser: NativeParser): void {
  setImmediate(closeParser, parser);
}

function closeParser(parser: NativeParser): void {
  parser.close();
}

/** Control over a socket's reads (here: reads that go straight into the parser). */
export interface ConsumedReads {
  /** Stops reading the socket (backpressure). */
  pause(): void;
  resume(): void;
  /** Gives the socket's reads back (before the parser is closed). */
  release(): void;
}

/**
 * Lets the parser read `socket` inside node, as node:http's server does with every connection
 * it accepts: no JS Buffer and no stream machinery per read (the parser reads into one static
 * buffer), and onExecute is called after each read instead of 'data'. EOF and errors still
 * reach the socket ('end', 'error', 'close'). Returns undefined, leaving 'data' in charge, when
 * node does not offer this for the socket (the caller then feeds `execute` itself).
 */
export function consumeReads(parser: NativeParser, socket: unknown): ConsumedReads | undefined {
  const p = parser as ConsumingParser;
  const handle = (socket as { _handle?: StreamHandle | null })._handle;
  if (!HTTPParser || HTTPParser.kOnExecute === undefined || typeof p.consume !== 'function' || typeof p.unconsume !== 'function') return undefined;
  if (!handle || handle.isStreamBase !== true || handle._consumed || typeof handle.readStop !== 'function' || typeof handle.readStart !== 'function') return undefined;
  try {
    p.consume(handle);
  } catch {
    return undefined;
  }
  handle._consumed = true;
  const destroyed = (): boolean => (socket as { destroyed: boolean }).destroyed;
  return {
    // `reading` is net.Socket's own record of whether the handle reads; kept in step with it
    // as node:http's server does (onSocketPause / onSocketResume).
    pause() {
      if (!destroyed() && handle.reading) {
        handle.reading = false;
        handle.readStop();
      }
    },
    resume() {
      if (!destroyed() && !handle.reading) {
        handle.reading = true;
        handle.readStart();
      }
    },
    release() {
      try {
        p.unconsume();
      } catch {
        // the stream is gone already
      }
    },
  };
}

/** Reads controlled through the socket's stream, when the parser cannot read it itself. */
export function streamReads(socket: { pause(): unknown; resume(): unknown }): ConsumedReads {
  return { pause: () => socket.pause(), resume: () => socket.resume(), release: () => undefined };
}
