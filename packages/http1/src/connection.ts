import net from 'node:net';
import { ClientError } from './errors';
import type { UpstreamHandler } from './handler';
import { closeParserLater, createResponseParser, setBodyCallback, streamReads, type ConsumedReads, type NativeParser } from './native-parser';
import { isName } from './header-names';
import { closingHead, type RequestHead, type UpstreamRequest } from './request-head';
import { atBatchEnd } from './write-batch';

/** Methods a node may see twice without harm (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);
/** Errors that say the node closed a kept-alive connection, as opposed to answering badly. */
const CLOSED_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
/** Subtracted from a node's `Keep-Alive: timeout=N` hint, so we stop using a connection before it does. */
const KEEP_ALIVE_MARGIN_MS = 2000;
/** The blank line that ends a response head. */
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const CR = 13;
const LF = 10;

/**
 * The one buffer every upstream socket reads into (net's and tls's `onread`). Sharing it is safe
 * because a read is handled to the end before the event loop can read again, and nothing keeps
 * a view of it: body bytes are copied out (onStaticRead).
 */
let readBuffer: Buffer | undefined;
function sharedReadBuffer(): Buffer {
  return (readBuffer ??= Buffer.allocUnsafeSlow(64 * 1024));
}

/** What a connection needs from its pool. */
export interface ConnectionOwner {
  readonly host: string;
  readonly port: number;
  readonly maxHeaderSize: number;
  /** `keepalive_pool.idle_timeout` in ms. */
  readonly idleMs: number;
  /** `keepalive_pool.requests`: requests per connection. */
  readonly maxRequests: number;
  /** TLS connections: ready on 'secureConnect' rather than 'connect'. */
  readonly secure: boolean;
  /**
   * A new socket to the node (TLS with this SNI name for https), whose reads go into `onread`'s
   * buffer and to its callback instead of 'data'.
   */
  connect(servername: string | undefined, onread: net.OnReadOpts): net.Socket;
  /** The connection finished a request cleanly and can take another. */
  onIdle(conn: H1Connection): void;
  /** A handler threw from onComplete or onError, where the request cannot fail any more. */
  onHandlerError(err: unknown): void;
  /** The connection is closed for good. */
  onGone(conn: H1Connection): void;
  /** A request whose reused connection turned out to be closed: send it again on a new one. */
  retry(req: H1Request): void;
}

/** One request's state while a connection carries it. */
export class H1Request {
  conn?: H1Connection;
  done = false;
  /** The final (non-1xx) response head arrived. */
  gotHead = false;
  /** Any response byte arrived. */
  gotBytes = false;
  /** The request body was written completely (true at once when there is none). */
  bodyEnded = false;
  /** Sent a second time after a stale kept-alive connection; never a third. */
  retried = false;
  /** Stops feeding the request body (set while it is streamed). */
  unpipe?: () => void;
  readonly abort = (err?: Error): void => {
    if (this.conn) this.conn.abort(this, err ?? new ClientError('request aborted', 'UND_ERR_ABORTED'));
  };
  /** The handler's resume; a stale one (after the request ended) does nothing. */
  readonly resume = (): void => {
    if (!this.done && this.conn?.current === this) this.conn.resumeReading(this);
  };

  constructor(readonly opts: UpstreamRequest, readonly handler: UpstreamHandler, readonly head: RequestHead,
    /** The SNI name its connection must have been opened with (https), as the pool chose it. */
    readonly servername?: string) {}

  /** Safe to send again: nothing came back, it has no body, and sending it twice does no harm. */
  get replayable(): boolean {
    return !this.retried && !this.gotBytes && this.opts.body === null && IDEMPOTENT.has(this.opts.method);
  }
}

/**
 * One HTTP/1.1 connection to an upstream node, carrying one request at a time (no pipelining,
 * as with undici's `pipelining: 1`). Responses are framed by node's llhttp (native-parser.ts).
 *
 * A connection is created for a request and starts it once connected; after a response that
 * allows reuse it goes back to its pool. Any error, timeout or abort destroys it: a connection
 * is only ever reused after a complete, well-formed exchange.
 */
export class H1Connection {
  readonly socket: net.Socket;
  /** The TLS server name this connection was opened with (https); requests for another name do not use it. */
  readonly servername: string | undefined;
  private readonly parser: NativeParser;
  /** Pauses and resumes the socket's reads (backpressure). */
  private reads?: ConsumedReads;
  /** The parser's next byte starts a new response (no part of its head has been read). */
  private atHeadStart = true;
  /** The read being parsed, when a response head starts it and ends at `headEnd` (onStaticRead). */
  private readData?: Buffer;
  private headEnd = -1;
  /** Body bytes still to come of a Content-Length body taken from the read buffer. */
  private bodyLeft = 0;
  /** The parser copies body chunks to onBody (false while bodies are taken from the read buffer). */
  private parserCopiesBodies = true;
  private paused = false;
  /** The request on this connection, until it completes or fails. */
  current?: H1Request;
  private state: 'connecting' | 'busy' | 'idle' | 'closed' = 'connecting';
  /** Requests started on this connection. */
  private started = 0;
  /** This request is the connection's last (`keepalive_pool.requests`; Connection: close sent). */
  private lastRequest = false;
  /** The last response allows another request. */
  private keepAlive = false;
  /** A request head waiting for the end of this batch of I/O events. */
  private pendingHead?: Buffer;
  private keepAliveMs: number;
  /** Response headers flushed by the parser before the head was complete. */
  private early: string[] = [];
  /** The response being parsed is a 1xx: skipped, the final one follows. */
  private informational = false;
  /** The request timeouts (connect, head, body silence); a firing while unarmed is ignored. */
  private readonly timer = new ReusableTimer(() => this.onTimer());
  private timerArmed = false;
  /** Closes the connection once idle for keepAliveMs; a firing while busy is ignored. */
  private readonly idleTimer = new ReusableTimer(() => this.onIdleTimer());

  constructor(private readonly owner: ConnectionOwner, req: H1Request) {
    this.keepAliveMs = owner.idleMs;
    this.current = req;
    req.conn = this;
    this.parser = createResponseParser({
      onHeaders: this.onParserHeaders,
      onHeadersComplete: this.onHeadersComplete,
      onBody: this.onBody,
      onMessageComplete: this.onMessageComplete,
    }, owner.maxHeaderSize);
    this.servername = req.servername;
    // The socket reads into the shared buffer (onStaticRead). A Content-Length body is taken
    // from there into a pooled Buffer, where node's parser, reading the socket itself as
    // node:http does, copied every body chunk into an ArrayBuffer of its own: one per response,
    // whose sweeping was ~40 % of a scavenge's pause under load (docs/performance.md, "Reads
    // into one buffer").
    const socket = owner.connect(this.servername, { buffer: sharedReadBuffer(), callback: this.onStaticRead });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    // The connect timeout covers the TLS handshake too, as undici's does.
    socket.on(owner.secure ? 'secureConnect' : 'connect', this.onConnected);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    this.arm(req.opts.connectTimeout ?? 0);
  }

  /** Writes `req` on this connection (connected and free). */
  start(req: H1Request): void {
    this.state = 'busy';
    this.current = req;
    req.conn = this;
    this.started++;
    try {
      req.handler.onConnect(req.abort);
    } catch (err) {
      return this.fail(req, asError(err), false);
    }
    if (req.done) return; // aborted from onConnect
    this.lastRequest = this.started >= this.owner.maxRequests;
    const head = this.lastRequest ? closingHead(req.head.bytes) : req.head.bytes;
    this.arm(req.opts.headersTimeout);
    // Sent at the end of this batch of I/O events (write-batch.ts), or before the body's first
    // bytes if they come sooner; not at all if the request is gone by then.
    this.pendingHead = head;
    atBatchEnd(this.writePendingHead);
    if (req.opts.body) this.pipeBody(req, req.opts.body);
    else req.bodyEnded = true;
  }

  /** The handler's abort: the request fails with `err` and the connection is closed. */
  abort(req: H1Request, err: Error): void {
    this.fail(req, err, false);
  }

  /** Closes the connection; a request on it fails with `err`. */
  destroy(err: Error): void {
    if (this.current) this.fail(this.current, err, false);
    else this.close();
  }

  private readonly writePendingHead = (): void => {
    const head = this.pendingHead;
    this.pendingHead = undefined;
    if (head !== undefined && this.state !== 'closed') this.socket.write(head);
  };

  private readonly onConnected = (): void => {
    const req = this.current;
    if (this.state !== 'connecting' || !req || req.done) return;
    this.reads = streamReads(this.socket);
    this.start(req);
  };

  /**
   * Streams the client's body with backpressure: the body pauses while the socket is full.
   * The header timer is refreshed by every chunk, so `headersTimeout` also bounds a stalled
   * upload (as undici does).
   */
  private pipeBody(req: H1Request, body: NodeJS.ReadableStream): void {
    const socket = this.socket;
    const chunked = req.head.chunked;
    const active = (): boolean => !req.done && this.current === req;
    const onData = (chunk: Buffer | string): void => {
      if (!active()) return;
      this.refresh();
      const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      if (n === 0) return; // an empty chunk would read as the chunked terminator
      this.writePendingHead();
      let ok: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${n.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else ok = socket.write(chunk);
      if (!ok) {
        body.pause();
        socket.once('drain', onDrain);
      }
    };
    const onDrain = (): void => {
      if (!active()) return;
      this.refresh();
      body.resume();
    };
    const onEnd = (): void => {
      if (!active()) return;
      this.writePendingHead();
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
      req.bodyEnded = true;
      req.unpipe?.();
      this.refresh();
    };
    // The client went away or its body failed: the node must not take a truncated body as whole.
    const onGone = (): void => {
      if (active() && !req.bodyEnded) this.fail(req, new ClientError('request body aborted', 'UND_ERR_ABORTED'), false);
    };
    req.unpipe = (): void => {
      req.unpipe = undefined;
      body.removeListener('data', onData);
      body.removeListener('end', onEnd);
      body.removeListener('error', onGone);
      body.removeListener('close', onGone);
      socket.removeListener('drain', onDrain);
    };
    if ((body as { readableEnded?: boolean }).readableEnded) {
      req.unpipe();
      return void this.fail(req, new ClientError('request body was already read', 'UND_ERR_INVALID_ARG'), false);
    }
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onGone);
    body.on('close', onGone);
    body.resume();
  }

  /**
   * A read into the shared buffer, run through the parser whole. When a response
   * head starts the read and ends in it, and announces a Content-Length body, the body's bytes
   * are taken from the buffer (chooseBodySource), and from the next reads until the length is
   * reached; the parser, told not to copy them, only frames them. Any other body (chunked,
   * close-delimited, after a head split over reads or a 1xx) comes through the parser's onBody.
   * Returns false to stop reading (backpressure): net then stops the socket's reads.
   */
  private readonly onStaticRead = (nread: number, buf: Uint8Array): boolean => {
    const req = this.current;
    if (req) req.gotBytes = true;
    const data = (buf as Buffer).subarray(0, nread);
    if (this.bodyLeft > 0) {
      const n = Math.min(nread, this.bodyLeft);
      this.bodyLeft -= n;
      this.takeBody(data, 0, n);
      if (this.isClosed()) return false;
    } else if (this.atHeadStart && data[0] !== CR && data[0] !== LF) {
      // (a read starting with CR or LF may be blank lines before the head, which the parser skips)
      this.headEnd = data.indexOf(HEAD_END);
      this.readData = data;
    }
    this.execute(data);
    if (this.readData) {
      // No head ended in this read: the one begun goes on in the next, which does not start it.
      this.atHeadStart = false;
      this.readData = undefined;
      this.headEnd = -1;
    }
    return !this.paused;
  };

  /** Hands `n` body bytes of the read buffer from `from` on, copied out of it (the buffer is reused by the next read). */
  private takeBody(data: Buffer, from: number, n: number): void {
    const chunk = Buffer.allocUnsafe(n); // from node's pool when small: no ArrayBuffer of its own
    data.copy(chunk, 0, from, from + n);
    this.onBody(chunk);
  }

  /** Runs `bytes` through the parser; a malformed response fails the request and the connection. */
  private execute(bytes: Buffer): void {
    const ret = this.parser.execute(bytes);
    if (typeof ret === 'number') return;
    if (this.current) this.fail(this.current, ret, false);
    else this.close();
  }

  /** A method, not a field test, so that tsc does not narrow the state across the calls that close it. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Header lines the parser flushed before the head was complete (more than 32, or a head
   * split over reads), or a chunked body's trailers, which are dropped at message end.
   * Bounded by the parser's header size limit.
   */
  private readonly onParserHeaders = (headers: string[]): void => {
    for (const h of headers) this.early.push(h);
  };

  private readonly onHeadersComplete = (
    _major: number, _minor: number, headers: string[] | undefined, _method: number | undefined, _url: string | undefined,
    status: number, statusMessage: string, upgrade: boolean, shouldKeepAlive: boolean,
  ): number => {
    if (headers === undefined) {
      headers = this.early;
      this.early = [];
    }
    this.atHeadStart = false;
    // Only the head that starts the read can have its body taken from it (chooseBodySource).
    const read = this.readData;
    const headEnd = this.headEnd;
    this.readData = undefined;
    this.headEnd = -1;
    const req = this.current;
    if (!req || req.done || this.state !== 'busy') {
      // An answer nobody asked for (e.g. bytes on an idle connection): it cannot be trusted.
      this.close();
      return 1;
    }
    if (status < 200) {
      if (status === 101 || upgrade) {
        this.fail(req, new ClientError('unexpected protocol switch', 'BAD_RESPONSE'), false);
        return 1;
      }
      this.informational = true; // 100 Continue, 103 Early Hints: not relayed; the answer follows
      return 1;
    }
    req.gotHead = true;
    this.keepAlive = shouldKeepAlive && !upgrade;
    if (this.keepAlive) this.readKeepAliveHint(headers);
    this.arm(req.opts.bodyTimeout);
    let go: boolean;
    try {
      go = req.handler.onHeaders(status, headers, req.resume, statusMessage);
    } catch (err) {
      // as undici does: a handler that throws fails its own request, not the process
      this.fail(req, asError(err), false);
      return 1;
    }
    if (req.done) return 1;
    if (go === false) this.pauseReading();
    if (req.opts.method === 'HEAD') return 1;
    this.chooseBodySource(status, headers, read, headEnd);
    return 0;
  };

  /**
   * Where this response's body comes from: the read buffer when its head started the read being
   * parsed and ended in it at `headEnd`, and it has a Content-Length body; else the parser's
   * onBody. 204 and 304 have no body whatever they announce (as the parser knows). The body's
   * bytes in this read are handed on here, before the parser frames them and ends the message.
   */
  private chooseBodySource(status: number, headers: string[], read: Buffer | undefined, headEnd: number): void {
    const length = read && headEnd >= 0 && status !== 204 && status !== 304 ? contentLength(headers) : -1;
    const copies = length < 0;
    if (copies !== this.parserCopiesBodies) {
      this.parserCopiesBodies = copies;
      setBodyCallback(this.parser, copies ? this.onBody : undefined);
    }
    if (length <= 0) return;
    const from = headEnd + 4;
    const n = Math.min(read!.length - from, length);
    this.bodyLeft = length - n;
    if (n > 0) this.takeBody(read!, from, n);
  }

  /** `Keep-Alive: timeout=N`: reuse the connection only while the node still keeps it. */
  private readKeepAliveHint(headers: string[]): void {
    this.keepAliveMs = this.owner.idleMs;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (!isName(name, 'keep-alive')) continue;
      const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(headers[i + 1]);
      if (!m) continue;
      const ms = Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS;
      if (ms <= 0) this.keepAlive = false;
      else this.keepAliveMs = Math.min(this.keepAliveMs, ms);
    }
  }

  private readonly onBody = (chunk: Buffer): void => {
    const req = this.current;
    if (!req || req.done) return;
    this.refresh();
    let go: boolean;
    try {
      go = req.handler.onData(chunk);
    } catch (err) {
      return this.fail(req, asError(err), false);
    }
    if (go === false) this.pauseReading();
  };

  /**
   * The client cannot take more: stop reading the node. The body timer stops too, as it bounds
   * the node's silence, not a slow client's (nginx's proxy_read_timeout also only runs while
   * it waits to read).
   */
  private pauseReading(): void {
    this.paused = true;
    this.reads!.pause();
    this.timerArmed = false;
  }

  /** The handler's resume for `req` (the current request). */
  resumeReading(req: H1Request): void {
    this.unpause();
    if (req.gotHead) this.arm(req.opts.bodyTimeout);
  }

  private unpause(): void {
    if (!this.paused) return;
    this.paused = false;
    this.reads!.resume();
  }

  private readonly onMessageComplete = (): void => {
    this.atHeadStart = true;
    // Trailers are not relayed (undici hands them to onComplete, which the proxy ignores too).
    if (this.early.length > 0) this.early = [];
    const req = this.current;
    if (!req || req.done) return;
    if (this.informational) {
      this.informational = false;
      return;
    }
    if (!req.gotHead) return;
    req.done = true;
    this.current = undefined;
    this.timerArmed = false;
    // A node that answered before taking the whole body: the connection is mid-request.
    const reusable = this.keepAlive && req.bodyEnded && !this.lastRequest;
    req.unpipe?.();
    try {
      req.handler.onComplete(null);
    } catch (err) {
      this.close();
      this.owner.onHandlerError(err);
      return;
    }
    if (this.state !== 'busy') return; // closed from onComplete
    if (!reusable) return this.close();
    this.state = 'idle';
    this.unpause(); // the next response must be read whatever the last client did
    this.armIdle();
    this.owner.onIdle(this);
  };

  private readonly onSocketEnd = (): void => {
    if (this.state === 'closed') return;
    // End of input completes a close-delimited body, or tells a cut response apart.
    const r = this.parser.finish();
    const req = this.current;
    if (req && !req.done) this.fail(req, r instanceof Error ? r : closedError(), true);
    else this.close();
  };

  private readonly onSocketError = (err: Error): void => {
    if (this.current && !this.current.done) this.fail(this.current, err, true);
    else this.close();
  };

  private readonly onSocketClose = (): void => {
    if (this.current && !this.current.done) this.fail(this.current, closedError(), true);
    else this.close();
    // After close the socket emits nothing more; the parser is freed once its stack has unwound.
    this.reads?.release();
    closeParserLater(this.parser);
  };

  private onTimer(): void {
    const req = this.current;
    if (!this.timerArmed || !req || req.done) return;
    this.fail(req, this.state === 'connecting' ? new ClientError('connect timeout', 'UND_ERR_CONNECT_TIMEOUT')
      : req.gotHead ? new ClientError('upstream body timeout', 'UND_ERR_BODY_TIMEOUT')
      : new ClientError('upstream headers timeout', 'UND_ERR_HEADERS_TIMEOUT'), false);
  }

  private onIdleTimer(): void {
    if (this.state === 'idle') this.close();
  }

  /**
   * The request fails and the connection closes. `byNode`: the node closed or reset it; a
   * request sent on a reused connection that got no answer is then sent once more on a new
   * connection when that is safe (the node may have closed it just as we wrote: the
   * keep-alive race nginx also retries).
   */
  private fail(req: H1Request, err: Error, byNode: boolean): void {
    if (req.done) return;
    req.done = true;
    if (this.current === req) this.current = undefined;
    this.timerArmed = false;
    req.unpipe?.();
    const reused = this.started > 1;
    this.close();
    if (byNode && reused && req.replayable && CLOSED_CODES.has((err as { code?: string }).code ?? '')) {
      req.done = false;
      req.retried = true;
      req.gotBytes = false;
      req.conn = undefined;
      this.owner.retry(req);
      return;
    }
    notifyError(req, err, this.owner);
  }

  private close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.timerArmed = false;
    this.timer.clear();
    this.idleTimer.clear();
    this.socket.destroy();
    this.owner.onGone(this);
  }

  /** Starts the request timer for `ms` (0 or less: no timeout). */
  private arm(ms: number): void {
    this.timerArmed = ms > 0;
    if (this.timerArmed) this.timer.start(ms);
  }

  /** Progress: the running timeout starts over. */
  private refresh(): void {
    if (this.timerArmed) this.timer.refresh();
  }

  private armIdle(): void {
    this.idleTimer.start(this.keepAliveMs);
  }
}

/**
 * An unref'd timeout that is refreshed rather than re-created (one Timeout per connection, not
 * per request); it is only re-created when the duration changes. Its owner decides on firing
 * whether the timeout still counts.
 */
class ReusableTimer {
  private timeout?: NodeJS.Timeout;
  private ms = 0;

  constructor(private readonly onFire: () => void) {}

  start(ms: number): void {
    if (this.timeout && this.ms === ms) return void this.timeout.refresh();
    if (this.timeout) clearTimeout(this.timeout);
    this.timeout = setTimeout(this.onFire, ms);
    this.timeout.unref();
    this.ms = ms;
  }

  refresh(): void {
    this.timeout?.refresh();
  }

  clear(): void {
    if (this.timeout) clearTimeout(this.timeout);
    this.timeout = undefined;
  }
}

/** Tells the handler its request failed; a handler that throws from there is reported, not raised. */
export function notifyError(req: H1Request, err: Error, owner: Pick<ConnectionOwner, 'onHandlerError'>): void {
  try {
    req.handler.onError(err);
  } catch (thrown) {
    owner.onHandlerError(thrown);
  }
}

/**
 * A response's Content-Length when it frames the body, else -1 (chunked, or none: the body runs
 * to the close). The parser has checked the value, and rejects a response with both headers.
 */
function contentLength(headers: string[]): number {
  let length = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (isName(name, 'content-length')) length = Number(headers[i + 1]);
    else if (isName(name, 'transfer-encoding')) return -1;
  }
  return Number.isSafeInteger(length) ? length : -1;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function closedError(): ClientError {
  return new ClientError('other side closed', 'UND_ERR_SOCKET');
}
