import { EventEmitter } from 'node:events';
import { STATUS_CODES, IncomingMessage, validateHeaderName, validateHeaderValue, type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { isName, lowerName } from './header-names';
import { HeadBytes } from './pieces';
import { validHost } from './host';
import { atBatchEnd } from './write-batch';
import { closeParserLater, consumeReads, createRequestParser, HTTP_METHODS, nativeParserAvailable, streamReads, type ConsumedReads, type ServerParser } from './native-parser';

/**
 * The data plane's HTTP/1.1 server: node's llhttp (`_http_common`'s `HTTPParser`, the parser
 * node:http's server uses, with the same strictness) reads each connection's socket itself,
 * and requests and responses are small objects with the part of IncomingMessage /
 * ServerResponse the proxy uses. On the same parser it serves 1.15–1.4× node:http's requests
 * per core, and it keeps node:http's behaviour: strictness, answers, pipelining, framing,
 * upgrades (docs/performance.md).
 */
export interface H1ServerOptions {
  /** Idle time between requests on a kept-alive connection, ms. */
  keepAliveTimeout: number;
  /** Time from a connection's or request's first byte until its head is complete, ms (408 after). */
  headersTimeout: number;
  /** Request head size limit, bytes (431 above). */
  maxHeaderSize: number;
}

export type RequestListener = (req: ServerRequest, res: ServerResponse) => void;
export type UpgradeListener = (req: ServerRequest, socket: net.Socket, head: Buffer) => void;

/** node:http's answers to a request it cannot parse, byte for byte. */
const ERROR_RESPONSES: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
};
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
/**
 * Pipelined requests a connection may have waiting for their answers: the parser stops after
 * the head that reaches it, and the rest of what was read waits unparsed until an answer is
 * done. A flood of pipelined requests, even in one read, must not become a flood of upstream
 * requests.
 */
const MAX_PIPELINED = 32;
/**
 * llhttp's HPE_PAUSED: returned from the head callback, it stops the parser right after that
 * head; execute() then reports an error with this code and where it stopped (bytesParsed).
 */
const PAUSE_PARSER = 21;
/**
 * How long a closing connection keeps reading (and discarding) after its last answer, for the
 * client to see that answer and close its side: closing a socket that still has unread input
 * makes the kernel send a reset, which can destroy the answer on its way (nginx's lingering close).
 */
const LINGER_MS = 5000;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Written behind an answer's bytes, for the callback that says they left the socket's buffer. */
const EMPTY = Buffer.alloc(0);
/**
 * A batch's output for one connection up to this size goes out as one buffer (one plain
 * write); above it, as a writev of the pieces, which saves copying them.
 */
const COALESCE_MAX = 16 * 1024;
const EXPECT_CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

/** node's own duplicate-header rules (joined with ", ", set-cookie as a list, some keep the first). */
const addHeaderLine = (IncomingMessage.prototype as unknown as {
  _addHeaderLine(this: { joinDuplicateHeaders?: boolean }, field: string, value: string, dest: IncomingHttpHeaders): void;
})._addHeaderLine;
const HEADER_RULES = { joinDuplicateHeaders: false };

/** Whether this node offers what the server is built on (else the proxy uses node:http's server). */
export const ownServerAvailable = nativeParserAvailable && typeof addHeaderLine === 'function';

export class H1Server extends EventEmitter {
  private readonly server: net.Server;
  private readonly connections = new Set<ServerConnection>();
  /** Shutting down: every answer that can be the last on its connection says Connection: close. */
  draining = false;
  private idleCheckScheduled = false;

  constructor(readonly options: H1ServerOptions, readonly onRequest: RequestListener, readonly onUpgrade: UpgradeListener) {
    super();
    // allowHalfOpen: what a client's end means is decided here (onEnd), as node:http does.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.connections.add(new ServerConnection(this, socket));
    });
    this.server.on('error', (err) => this.emit('error', err));
  }

  listen(port: number, host: string | undefined, cb: () => void): this {
    this.server.listen(port, host, cb);
    return this;
  }

  address(): ReturnType<net.Server['address']> {
    return this.server.address();
  }

  /** Stops accepting; `cb` runs once every connection is gone. */
  close(cb?: () => void): void {
    this.server.close(() => cb?.());
  }

  /** Open client connections (not counting those handed over by an upgrade). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Graceful shutdown: answers from now on close their connection unless more requests are
   * known to be waiting on it, and idle connections are closed between requests (see
   * closeIdleConnections). Call close() too, to stop accepting.
   */
  drain(): void {
    this.draining = true;
    for (const c of this.connections) c.drain();
    this.closeIdleConnections();
  }

  /**
   * Closes the connections that are idle, between requests, cleanly (FIN, then the client's
   * close is awaited, as in a lingering close). A connection is checked only once the event
   * loop has polled the sockets again, so that one whose next request has already arrived is
   * not taken for idle: it is answered instead.
   */
  closeIdleConnections(): void {
    if (this.idleCheckScheduled) return;
    this.idleCheckScheduled = true;
    setImmediate(this.afterPoll);
  }

  /** (setImmediate runs in this iteration's check phase; the second one after the next poll) */
  private readonly afterPoll = (): void => {
    setImmediate(this.closeIdleNow);
  };

  private readonly closeIdleNow = (): void => {
    this.idleCheckScheduled = false;
    for (const c of this.connections) c.closeIfIdle();
  };

  closeAllConnections(): void {
    for (const c of this.connections) c.destroy();
  }

  /** @internal */
  gone(conn: ServerConnection): void {
    this.connections.delete(conn);
  }
}

/** One client connection: parses requests, answers them in order. */
class ServerConnection {
  private readonly parser: ServerParser;
  /** Pauses and resumes reads: the parser's own (consumeReads), else the socket stream's. */
  private readonly reads: ConsumedReads;
  /** The parser reads the socket itself (no 'data' events). */
  private readonly consumed: boolean;
  /** Answers in request order; the first one writes to the socket, the others buffer. */
  private readonly queue: ServerResponse[] = [];
  /** The request whose body is being parsed. */
  private incoming?: ServerRequest;
  /** Header lines and url pieces the parser flushed before the head was complete. */
  private early: string[] = [];
  private earlyUrl = '';
  private upgrading?: ServerRequest;
  private closed = false;
  private readPaused = false;
  /** A request's bytes have begun and its message is not complete yet. */
  private messageOpen = false;
  /**
   * No further request on this connection is dispatched: an answer that closes it is decided
   * (Connection: close either way, a 400). What arrives after is read and discarded.
   */
  private noMore = false;
  /** The parser stopped at the pipelining limit; `leftover` holds what it has not parsed yet. */
  private parserPaused = false;
  private leftover?: Buffer;
  private resumeScheduled = false;
  /** The request being received cannot take more body now (its reader is full). */
  private bodyFull = false;
  /** The last answer is out and our side is closed: reading only until the client closes. */
  private lingering = false;
  private lingerTimer?: NodeJS.Timeout;
  /** The server is shutting down (H1Server.drain). */
  draining = false;
  /**
   * Which timeout runs: the headers one while a head is arriving, the keep-alive one while
   * idle. Each has its own Timeout, made once and refreshed; a firing of the other is ignored.
   */
  private timerKind: 'headers' | 'idle' | 'none' = 'headers';
  private readonly headersTimer: NodeJS.Timeout;
  /**
   * Complete answers whose bytes have not all reached the socket yet (held in a batch, see
   * write-batch.ts, or waiting for the socket's 'drain'): they get 'finish' and 'close' once
   * the socket has taken everything, as from node:http, so that a graceful close does not cut
   * an answer the proxy counts as done.
   */
  private readonly unwritten: ServerResponse[] = [];
  /** Groups of done answers, each behind bytes still in the socket's buffer (oldest first). */
  private readonly waitingForSocket: ServerResponse[][] = [];
  /**
   * This batch's output (write-batch.ts), sent at the batch's end in one write: latin-1
   * strings (heads, chunk framing) and body buffers.
   */
  private out: Array<string | Buffer> = [];
  private outBytes = 0;
  private flushScheduled = false;
  /** A writer was told to wait (write returned false): it gets a 'drain' once the socket takes more. */
  private drainOwed = false;
  private idleTimer?: NodeJS.Timeout;

  constructor(private readonly server: H1Server, readonly socket: net.Socket) {
    this.parser = createRequestParser({
      onMessageBegin: this.onMessageBegin,
      onHeaders: this.onHeaders,
      onHeadersComplete: this.onHeadersComplete,
      onBody: this.onBody,
      onMessageComplete: this.onMessageComplete,
      onExecute: this.onExecute,
    }, server.options.maxHeaderSize);
    this.draining = server.draining;
    const consumed = consumeReads(this.parser, socket);
    this.consumed = consumed !== undefined;
    this.reads = consumed ?? streamReads(socket);
    if (!this.consumed) socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    // A new connection must send its first head within the headers timeout (slowloris).
    this.headersTimer = setTimeout(this.onHeadersTimeout, server.options.headersTimeout);
    this.headersTimer.unref();
  }

  private readonly onData = (data: Buffer): void => {
    this.onExecute(this.parser.execute(data), data);
  };

  /** The first byte of a request: its head must be complete within the headers timeout (slowloris). */
  private readonly onMessageBegin = (): void => {
    this.messageOpen = true;
    if (!this.closed && !this.noMore && this.queue.length === 0) this.setTimer('headers');
  };

  private readonly onHeaders = (headers: string[], url: string): void => {
    for (const h of headers) this.early.push(h);
    this.earlyUrl += url;
  };

  private readonly onHeadersComplete = (
    versionMajor: number, versionMinor: number, headers: string[] | undefined, method: number | undefined, url: string | undefined,
    _status: number, _message: string, upgrade: boolean, shouldKeepAlive: boolean,
  ): number => {
    if (this.closed) return 1;
    if (headers === undefined) {
      headers = this.early;
      this.early = [];
    }
    if (url === undefined || url === '') {
      url = this.earlyUrl;
      this.earlyUrl = '';
    }
    // Behind an answer that closes the connection nothing is dispatched; the parser stops here
    // and the bytes are discarded.
    if (this.noMore) return PAUSE_PARSER;
    const name = HTTP_METHODS[method ?? -1] ?? 'GET';
    // CONNECT (a tunnel nobody here serves): the connection is dropped, as node:http drops it
    // without a 'connect' listener.
    if (name === 'CONNECT') {
      // (answers already made in this batch go first, as node:http has written them by now)
      this.writeOut();
      this.destroy();
      return 1;
    }
    const req = new ServerRequest(this, this.socket, name, url, versionMajor, versionMinor, headers, upgrade);
    // The head is in: no headers timeout while the request runs (node:http's requestTimeout 0).
    this.setTimer('none');
    if (upgrade) {
      // Handed over with the bytes after the head once the parser returns (onExecute).
      this.upgrading = req;
      return 2;
    }
    this.incoming = req;
    const res = new ServerResponse(req, this, shouldKeepAlive, this.server.options.keepAliveTimeout);
    this.queue.push(res);
    // Its answer is the last: what is pipelined behind it is not dispatched.
    if (!shouldKeepAlive) this.noMore = true;
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host (node:http's requireHostHeader),
    // and for any request with more than one Host or an invalid one (node:http takes those).
    const host = req.headers.host;
    if (req.duplicateHost || (host === undefined ? versionMajor === 1 && versionMinor === 1 : !validHost(host))) {
      res.writeHead(400, ['Connection', 'close']);
      res.end();
      return 0;
    }
    if (versionMajor === 1 && versionMinor === 1) {
      const expect = req.headers.expect;
      if (expect !== undefined) {
        if (!EXPECT_CONTINUE.test(expect)) {
          res.writeHead(417);
          res.end();
          return 0;
        }
        res.writeContinue();
      }
    }
    this.server.onRequest(req, res);
    // The pipelining limit: nothing more is parsed (not even this request's body) until an
    // earlier answer is done.
    if (this.queue.length >= MAX_PIPELINED && !this.closed && !this.noMore) {
      this.parserPaused = true;
      this.updateReads();
      return PAUSE_PARSER;
    }
    return 0;
  };

  private readonly onBody = (chunk: Buffer): void => {
    const req = this.incoming;
    if (!req || this.closed) return;
    // (node's parser hands each body chunk over as a copy of its read buffer)
    if (!req.feed(chunk)) {
      this.bodyFull = true;
      this.updateReads();
    }
  };

  private readonly onMessageComplete = (): void => {
    // A chunked body's trailers arrive as early header lines, with the request-target the
    // parser still holds: they belong to no request, and must not become the next one's.
    if (this.early.length > 0) this.early = [];
    this.earlyUrl = '';
    this.messageOpen = false;
    const req = this.incoming;
    if (!req) return;
    this.incoming = undefined;
    this.bodyFull = false;
    req.bodyComplete();
    if (this.queue.length === 0 && !this.closed) {
      // answered before its end was parsed (a reply made at once): the connection is idle now
      if (!this.noMore) this.setTimer('idle');
      if (this.draining) this.server.closeIdleConnections();
    }
    this.updateReads();
  };

  private readonly onExecute = (ret: number | Error, data?: Buffer): void => {
    if (this.closed) return;
    // (not `instanceof Error`: the parser's errors may come from another realm, as under jest)
    if (typeof ret !== 'number') {
      const err = ret as Error & { code?: string; bytesParsed?: number };
      if (err.code === 'HPE_PAUSED') return this.parserStopped(err.bytesParsed ?? 0, data);
      // Behind the last answer, bytes are only discarded (unless they are its own body).
      if (this.noMore && !this.incoming) return;
      return this.parseError(err);
    }
    const req = this.upgrading;
    if (req) {
      const buf = data ?? this.parser.getCurrentBuffer();
      this.upgrading = undefined;
      this.handOver(req, Buffer.from(buf.subarray(ret)));
      return;
    }
  };

  /**
   * The parser stopped after a head (PAUSE_PARSER), or was still stopped: what it did not parse
   * of this read waits, unless nothing more is to be dispatched on this connection.
   */
  private parserStopped(parsed: number, data: Buffer | undefined): void {
    if (this.noMore) {
      this.leftover = undefined;
      return this.updateReads();
    }
    this.parserPaused = true;
    // (the parser's own read buffer is reused by the next read: getCurrentBuffer copies it)
    const buf = data ?? this.parser.getCurrentBuffer();
    if (parsed < buf.length) {
      const rest = buf.subarray(parsed);
      this.leftover = this.leftover ? Buffer.concat([this.leftover, rest]) : rest;
    }
    this.updateReads();
  }

  /** An earlier answer is done: parsing goes on where it stopped (not from inside a parser callback). */
  private scheduleResume(): void {
    if (this.resumeScheduled) return;
    this.resumeScheduled = true;
    atBatchEnd(this.resumeParsing);
  }

  private readonly resumeParsing = (): void => {
    this.resumeScheduled = false;
    if (this.closed || !this.parserPaused || this.noMore || this.queue.length >= MAX_PIPELINED) return;
    this.parserPaused = false;
    this.parser.resume();
    const buf = this.leftover;
    this.leftover = undefined;
    if (buf) this.onExecute(this.parser.execute(buf), buf);
    this.updateReads();
  };

  /** A request the parser refused: node:http's answer, unless an answer is already on its way. */
  private parseError(err: Error & { code?: string }): void {
    // Answers already made in this batch go first: destroying the socket would drop them.
    this.writeOut();
    const head = this.queue[0];
    if (!head || !head.headersFlushed) this.socket.write(ERROR_RESPONSES[err.code ?? ''] ?? BAD_REQUEST, 'latin1');
    this.destroy();
  }

  /** An Upgrade request: the socket leaves this server with the bytes after the head. */
  private handOver(req: ServerRequest, head: Buffer): void {
    this.detach();
    this.server.gone(this);
    req.complete = true;
    this.server.onUpgrade(req, this.socket, head);
  }

  /** Stops parsing this socket, leaving it open (upgrade). */
  private detach(): void {
    // Earlier answers' bytes go first: the new owner writes to the socket directly.
    this.writeOut();
    for (const res of this.unwritten.splice(0)) res.written();
    this.closed = true;
    this.clearTimers();
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('error', this.onError);
    s.removeListener('close', this.onClose);
    s.removeListener('drain', this.onDrain);
    this.reads.release();
    // The socket's new owner reads it; a stream left as is flows once it attaches a listener.
    if (this.consumed) this.reads.resume();
    this.parser.finish();
    closeParserLater(this.parser);
  }

  /**
   * The client ended its side: as node:http (without httpAllowHalfOpen), whatever is still in
   * flight is abandoned and the connection closes; the answers' 'close' tells the proxy.
   */
  private readonly onEnd = (): void => {
    if (this.closed) return;
    if (!this.parserPaused && !this.noMore) this.parser.finish();
    if (this.socket.writable) this.socket.end();
    else this.destroy();
  };

  private readonly onError = (): void => {
    this.destroy();
  };

  private readonly onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.leftover = undefined;
    this.clearTimers();
    this.server.gone(this);
    const req = this.incoming;
    this.incoming = undefined;
    if (req && !req.complete) req.abort();
    for (const res of this.queue.splice(0)) res.aborted();
    for (const res of this.unwritten.splice(0)) res.written();
    for (const group of this.waitingForSocket.splice(0)) for (const res of group) res.written();
    this.reads.release();
    closeParserLater(this.parser);
  };

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    atBatchEnd(this.flush);
  }

  /** The end of a batch of I/O events: its output goes to the socket. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.writeOut();
    // The socket took it without backing up (it says so only when it did back up, by 'drain').
    if (this.drainOwed && !this.socket.writableNeedDrain && !this.congested()) this.owedDrain();
    this.afterFlush();
  };

  private owedDrain(): void {
    this.drainOwed = false;
    this.queue[0]?.emit('drain');
  }

  /** Hands what this batch wrote to the socket, in one write when it is small. */
  private writeOut(): void {
    const out = this.out;
    const n = out.length;
    if (n === 0) return;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (this.closed) return;
    const s = this.socket;
    if (n === 1) {
      const d = out[0];
      if (typeof d === 'string') s.write(d, 'latin1');
      else s.write(d);
    } else if (bytes <= COALESCE_MAX) {
      const buf = Buffer.allocUnsafe(bytes);
      let at = 0;
      for (const d of out) at += typeof d === 'string' ? buf.write(d, at, 'latin1') : d.copy(buf, at);
      s.write(buf);
    } else {
      s.cork();
      for (const d of out) {
        if (typeof d === 'string') s.write(d, 'latin1');
        else s.write(d);
      }
      s.uncork();
    }
  }

  /** Whether output is backing up: a writer should wait for 'drain'. */
  private congested(): boolean {
    return this.socket.writableLength + this.outBytes >= this.socket.writableHighWaterMark;
  }

  /** The batch's output went to the socket: done answers are written, unless some of it waits. */
  private afterFlush(): void {
    if (this.unwritten.length === 0) return;
    // (a closing connection's socket takes no more writes; its 'close' tells them)
    if (this.socket.writableEnded && this.socket.writableLength > 0) return;
    if (this.socket.writableLength === 0) {
      for (const res of this.unwritten.splice(0)) res.written();
      return;
    }
    // Part of it waits in the socket's buffer (a slow reader): a write callback tells when
    // everything up to here is out.
    this.waitingForSocket.push(this.unwritten.splice(0));
    this.socket.write(EMPTY, this.onSocketCaughtUp);
  }

  private readonly onSocketCaughtUp = (): void => {
    for (const res of this.waitingForSocket.shift() ?? []) res.written();
  };

  private readonly onDrain = (): void => {
    this.owedDrain();
  };

  private readonly onHeadersTimeout = (): void => {
    if (this.closed || this.timerKind !== 'headers') return;
    this.socket.write(ERROR_RESPONSES.ERR_HTTP_REQUEST_TIMEOUT, 'latin1');
    this.destroy();
  };

  private readonly onIdleTimeout = (): void => {
    if (!this.closed && this.timerKind === 'idle') this.destroy();
  };

  private setTimer(kind: 'headers' | 'idle' | 'none'): void {
    this.timerKind = kind;
    if (kind === 'headers') this.headersTimer.refresh();
    else if (kind === 'idle') {
      if (this.idleTimer) this.idleTimer.refresh();
      else {
        this.idleTimer = setTimeout(this.onIdleTimeout, this.server.options.keepAliveTimeout);
        this.idleTimer.unref();
      }
    }
  }

  private clearTimers(): void {
    this.timerKind = 'none';
    clearTimeout(this.headersTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
  }

  /** Between requests: nothing received that is not answered, nothing to answer. */
  private get idle(): boolean {
    return this.queue.length === 0 && !this.incoming && !this.messageOpen && this.leftover === undefined && !this.parserPaused;
  }

  /** Closes the connection cleanly if it is between requests (shutdown, closeIdleConnections). */
  closeIfIdle(): void {
    if (this.closed || this.lingering || !this.idle) return;
    this.noMore = true;
    this.closeAfterLastAnswer();
  }

  /** Shutdown begins: see lastKnown. */
  drain(): void {
    this.draining = true;
  }

  /**
   * Whether `res` answers the last request this connection knows of (nothing behind it in the
   * queue, parsed in part or read and waiting): a draining connection closes after it. An
   * answer made while its own request is still being parsed cannot know what follows it in
   * the read: it keeps the connection, which is then closed as idle (closeIfIdle).
   */
  lastKnown(res: ServerResponse): boolean {
    return this.queue[this.queue.length - 1] === res && !this.messageOpen && this.leftover === undefined && !this.parserPaused;
  }

  /**
   * `res` closes the connection (its head says Connection: close): no further request is
   * dispatched, and those already waiting behind it are abandoned now, so that their upstream
   * requests are cancelled rather than answered to nobody.
   */
  closingAnswer(res: ServerResponse): void {
    this.noMore = true;
    this.leftover = undefined;
    const i = this.queue.indexOf(res);
    if (i < 0 || i === this.queue.length - 1) return;
    for (const later of this.queue.splice(i + 1)) {
      if (later.req === this.incoming) {
        this.incoming = undefined;
        this.bodyFull = false;
      }
      if (!later.req.complete) later.req.abort();
      later.aborted();
    }
    this.updateReads();
  }

  /**
   * The last answer is out: our side is closed (FIN) and the connection is read until the
   * client closes its side, or LINGER_MS, what arrives discarded.
   */
  private closeAfterLastAnswer(): void {
    this.writeOut();
    this.socket.end();
    this.lingering = true;
    this.setTimer('none');
    this.lingerTimer = setTimeout(this.onLingerTimeout, LINGER_MS);
    this.lingerTimer.unref();
    this.updateReads();
  }

  private readonly onLingerTimeout = (): void => {
    this.destroy();
  };

  destroy(): void {
    this.socket.destroy();
  }

  /** The request body's reader wants more. */
  resumeReads(): void {
    if (!this.bodyFull) return;
    this.bodyFull = false;
    this.updateReads();
  }

  /**
   * Reads the socket unless something waits: the parser (stopped at the pipelining limit) or
   * the body's reader (full). Behind the last answer, reads go on and are discarded, so that a
   * client that leaves is still seen.
   */
  private updateReads(): void {
    if (this.closed) return;
    const hold = !this.lingering && (this.parserPaused || (this.bodyFull && this.incoming !== undefined));
    if (hold === this.readPaused) return;
    this.readPaused = hold;
    if (hold) this.reads.pause();
    else this.reads.resume();
  }

  /**
   * Output of `res` (strings are latin-1): sent at the end of this batch if it is the answer
   * at the head of the queue, else held. False when the writer should wait for 'drain'.
   */
  write(res: ServerResponse, data: string | Buffer): boolean {
    if (this.closed) return false;
    if (this.queue[0] !== res) {
      res.held.push(data);
      return false;
    }
    this.out.push(data);
    this.outBytes += data.length;
    this.scheduleFlush();
    if (!this.congested()) return true;
    this.drainOwed = true;
    return false;
  }

  /** `res` is complete: the next answer may write; the connection idles or closes. */
  finished(res: ServerResponse): void {
    if (this.queue[0] !== res) return;
    this.queue.shift();
    if (this.closed) res.written();
    else {
      // told after this batch's flush, or once a slow reader has taken it
      this.unwritten.push(res);
      this.scheduleFlush();
    }
    const req = res.req;
    // An unread request body is discarded, so the connection can go on (node:http's _dump).
    if (!req.complete || req.readableLength > 0) req.dump();
    if (res.last) {
      // (closingAnswer left nothing behind it in the queue)
      if (!this.closed) this.closeAfterLastAnswer();
      return;
    }
    if (this.parserPaused && this.queue.length < MAX_PIPELINED) this.scheduleResume();
    const next = this.queue[0];
    if (next) {
      for (const d of next.held.splice(0)) this.write(next, d);
      if (next.writableEnded) this.finished(next);
      // Its writes were refused while it waited; a writer waiting for 'drain' goes on now,
      // or once the socket has taken this batch's output.
      else if (!this.congested()) next.emit('drain');
      else this.drainOwed = true;
      return;
    }
    if (!this.incoming) {
      this.setTimer('idle');
      if (this.draining) this.server.closeIdleConnections();
    }
  }
}

/** A request: what the proxy reads of node's IncomingMessage (ClientRequest, client-http.ts), and its body as a stream. */
export class ServerRequest extends Readable {
  readonly rawHeaders: string[];
  complete = false;
  /** The head has more than one Host line (found while building `headers`). */
  duplicateHost = false;
  /** The client left before the request was complete (node's IncomingMessage.aborted). */
  aborted = false;
  private parsedHeaders?: IncomingHttpHeaders;
  private dumped = false;
  /** A reader has asked for the body (_read ran). */
  private wanted = false;
  /** The end of a body nobody has read yet: pushed once someone does. */
  private endPending = false;

  constructor(
    private readonly conn: ServerConnection,
    readonly socket: net.Socket,
    readonly method: string,
    readonly url: string,
    readonly httpVersionMajor: number,
    readonly httpVersionMinor: number,
    rawHeaders: string[],
    readonly upgrade: boolean,
  ) {
    super();
    this.rawHeaders = rawHeaders;
  }

  get httpVersion(): string {
    return `${this.httpVersionMajor}.${this.httpVersionMinor}`;
  }

  /** Header names lower-cased, duplicates merged by node's own rules; built on first use. */
  get headers(): IncomingHttpHeaders {
    if (this.parsedHeaders) return this.parsedHeaders;
    const out: IncomingHttpHeaders = {};
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      // A name seen first is stored as is, which is what node's rules give it; duplicates,
      // set-cookie (always a list) and names the object already has go through node's rules.
      const name = lowerName(raw[i]);
      if (out[name] === undefined && name !== 'set-cookie') out[name] = raw[i + 1];
      else {
        // (node's rules keep the first Host and drop the others: the server refuses the request)
        if (name === 'host') this.duplicateHost = true;
        addHeaderLine.call(HEADER_RULES, raw[i], raw[i + 1], out);
      }
    }
    this.parsedHeaders = out;
    return out;
  }

  override _read(): void {
    this.wanted = true;
    if (this.endPending) {
      this.endPending = false;
      this.push(null);
      return;
    }
    this.conn.resumeReads();
  }

  /**
   * The body is complete. Its end goes to the stream only once someone reads it: most
   * requests have no body and nobody reads them, and ending a stream costs a few ticks.
   */
  bodyComplete(): void {
    this.complete = true;
    if (this.dumped) return;
    if (this.wanted) this.push(null);
    else this.endPending = true;
  }

  /** A body chunk; false when the reader is full. */
  feed(chunk: Buffer): boolean {
    if (this.dumped) return true;
    return this.push(chunk);
  }

  /** The client left before the body was complete. */
  abort(): void {
    if (this.destroyed) return;
    this.aborted = true;
    this.emit('aborted');
    this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  }

  /**
   * As node:http's IncomingMessage: the abort is an 'error' only for a stream someone listens
   * to for errors (a body being forwarded). A request nobody reads (answered already, waiting
   * for its upstream connection) just closes: an 'error' without a listener would end the process.
   */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    cb(err !== null && this.listenerCount('error') > 0 ? err : null);
  }

  /** Discards what is left of the body. */
  dump(): void {
    if (this.dumped) return;
    this.dumped = true;
    this.removeAllListeners('data');
    this.resume();
  }
}

/** A response: what the proxy, http-util and metrics use of node's ServerResponse (ClientResponse, client-http.ts). */
export class ServerResponse extends EventEmitter {
  statusCode = 200;
  statusMessage?: string;
  /** The head is built (writeHead or the first write): no header can change any more. */
  headersSent = false;
  /** The head went to the socket. */
  headersFlushed = false;
  destroyed = false;
  /** @internal 'close' went out. */
  closeEmitted = false;
  /** end() was called: the answer is complete (written, or held behind an earlier one). */
  writableEnded = false;
  /** This is the connection's last answer (Connection: close, or no framing but the close). */
  last: boolean;
  /** Output held while an earlier answer on the connection is still being written. */
  readonly held: Array<string | Buffer> = [];
  private head?: Buffer;
  private headerList?: Map<string, [string, string | number | readonly string[]]>;
  private readonly hasBody: boolean;
  private bodyAllowed = true;
  private chunked = false;

  constructor(readonly req: ServerRequest, private readonly conn: ServerConnection, private readonly keepAlive: boolean,
    private readonly keepAliveMs: number) {
    super();
    this.hasBody = req.method !== 'HEAD';
    this.last = !keepAlive;
  }

  get socket(): net.Socket {
    return this.req.socket;
  }

  setHeader(name: string, value: string | number | readonly string[]): this {
    if (this.headersSent) throw Object.assign(new Error('Cannot set headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    (this.headerList ??= new Map()).set(lowerName(name), [name, value]);
    return this;
  }

  getHeader(name: string): string | number | readonly string[] | undefined {
    return this.headerList?.get(lowerName(name))?.[1];
  }

  removeHeader(name: string): void {
    this.headerList?.delete(lowerName(name));
  }

  writeContinue(): void {
    this.conn.write(this, CONTINUE);
  }

  /**
   * As node's: status, optional reason, and headers as an object or a flat [name, value, ...]
   * list; names and values are validated (a bad one throws) and the head is built now.
   */
  writeHead(status: number, message?: string | Record<string, unknown> | unknown[], headers?: Record<string, unknown> | unknown[]): this {
    if (this.headersSent) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    if (typeof message !== 'string' && message !== undefined) {
      headers = message;
      message = undefined;
    }
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw Object.assign(new RangeError(`Invalid status code: ${status}`), { code: 'ERR_HTTP_INVALID_STATUS_CODE' });
    }
    this.statusCode = status;
    this.statusMessage = message ?? STATUS_CODES[status] ?? 'unknown';
    this.buildHead(headers, undefined);
    // The head goes out at the end of this batch even if no body follows yet (server-sent
    // events, long polls); a body written in the same batch goes out with it.
    this.flushHead();
    return this;
  }

  /** Builds the head (node's _storeHeader): `bodyLength` when the whole body is known (end before any write). */
  private buildHead(headers: Record<string, unknown> | unknown[] | undefined, bodyLength: number | undefined): void {
    if (this.statusCode === 204 || this.statusCode === 304 || this.statusCode < 200) this.bodyAllowed = false;
    const parts = HEAD_PARTS.start().add('HTTP/1.1 ').add(String(this.statusCode)).add(' ')
      .add(this.statusMessage ?? STATUS_CODES[this.statusCode] ?? 'unknown').add('\r\n');
    let seen = 0;
    if (this.headerList) for (const [, [name, value]] of this.headerList) seen |= this.addHeader(name, value);
    if (Array.isArray(headers)) {
      if (headers.length % 2 !== 0) throw Object.assign(new TypeError('headers must be name/value pairs'), { code: 'ERR_INVALID_ARG_VALUE' });
      for (let i = 0; i < headers.length; i += 2) seen |= this.addHeader(headers[i] as string, headers[i + 1]);
    } else if (headers) {
      for (const name of Object.keys(headers)) if (headers[name] !== undefined) seen |= this.addHeader(name, headers[name]);
    }
    if (!(seen & SEEN_DATE)) parts.add('Date: ').add(utcDate()).add('\r\n');
    const http11 = this.req.httpVersionMajor === 1 && this.req.httpVersionMinor >= 1;
    const hasLength = (seen & SEEN_LENGTH) !== 0;
    const hasTe = (seen & SEEN_TE) !== 0;
    // HTTP/1.0 clients get no chunked framing: without a length the body ends with the connection.
    const framable = hasLength || hasTe || bodyLength !== undefined || http11;
    // A server shutting down closes each connection after the last request it knows of.
    if (!this.last && this.conn.draining && this.conn.lastKnown(this)) this.last = true;
    if (!(seen & SEEN_CONNECTION)) {
      if (!this.last && framable) {
        parts.add('Connection: keep-alive\r\n');
        if (this.keepAliveMs > 0 && !(seen & SEEN_KEEP_ALIVE)) parts.add('Keep-Alive: timeout=').add(String(Math.floor(this.keepAliveMs / 1000))).add('\r\n');
      } else {
        this.last = true;
        parts.add('Connection: close\r\n');
      }
    }
    if (!hasLength && !hasTe && this.hasBody && this.bodyAllowed) {
      if (bodyLength !== undefined) parts.add('Content-Length: ').add(String(bodyLength)).add('\r\n');
      else if (http11) {
        parts.add('Transfer-Encoding: chunked\r\n');
        this.chunked = true;
      } else this.last = true;
    }
    this.head = parts.add('\r\n').finish();
    this.headersSent = true;
    if (this.last) this.conn.closingAnswer(this);
  }

  /** Validates one header (a list: each value) and adds it to HEAD_PARTS; returns the SEEN_* flags it sets. */
  private addHeader(name: string, value: unknown): number {
    if (Array.isArray(value)) {
      let seen = 0;
      for (const v of value) seen |= this.addHeader(name, v);
      return seen;
    }
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    const v = String(value);
    HEAD_PARTS.add(name).add(': ').add(v).add('\r\n');
    switch (name.length) {
      case 4:
        return isName(name, 'date') ? SEEN_DATE : 0;
      case 14:
        return isName(name, 'content-length') ? SEEN_LENGTH : 0;
      case 17:
        if (!isName(name, 'transfer-encoding')) return 0;
        if (/(?:^|,)\s*chunked\s*$/i.test(v)) this.chunked = true;
        return SEEN_TE;
      case 10:
        if (isName(name, 'connection')) {
          if (/(?:^|\W)close(?:$|\W)/i.test(v)) this.last = true;
          return SEEN_CONNECTION;
        }
        return isName(name, 'keep-alive') ? SEEN_KEEP_ALIVE : 0; // the caller's replaces ours, as in node
      default:
        return 0;
    }
  }

  write(chunk: string | Buffer, encoding?: BufferEncoding | (() => void)): boolean {
    // After end (or once destroyed) a write is refused, not an 'error' event: node's emits one,
    // and with no listener on a response that would take the process down.
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.buildHead(undefined, undefined);
    let ok = this.flushHead();
    // (a string body in its encoding, utf-8 by default as in node; the connection's strings are latin-1)
    const body = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk;
    const len = body.length;
    if (!this.hasBody || !this.bodyAllowed || len === 0) return ok;
    if (this.chunked) {
      this.conn.write(this, `${len.toString(16)}\r\n`);
      this.conn.write(this, body);
      ok = this.conn.write(this, '\r\n');
    } else ok = this.conn.write(this, body);
    return ok;
  }

  private flushHead(): boolean {
    if (this.headersFlushed || this.head === undefined) return true;
    this.headersFlushed = true;
    const head = this.head;
    this.head = undefined;
    return this.conn.write(this, head);
  }

  end(chunk?: string | Buffer | (() => void), encoding?: BufferEncoding | (() => void)): this {
    if (this.writableEnded || this.destroyed) return this;
    const data = typeof chunk === 'function' || chunk === undefined ? undefined
      : typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk;
    if (!this.headersSent) this.buildHead(undefined, this.hasBody ? data?.length ?? 0 : undefined);
    if (data !== undefined) this.write(data);
    else this.flushHead();
    if (this.chunked && this.hasBody && this.bodyAllowed) this.conn.write(this, '0\r\n\r\n');
    this.writableEnded = true;
    this.conn.finished(this);
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.req.socket.destroy();
    return this;
  }

  /** The connection closed before this answer was complete. */
  aborted(): void {
    if (this.writableEnded) return;
    this.destroyed = true;
    process.nextTick(emitClose, this);
  }

  /** The answer is complete and written (or its connection is gone). */
  written(): void {
    if (this.closeEmitted) return;
    this.emit('finish');
    emitClose(this);
  }
}

/** The response head being built. */
const HEAD_PARTS = new HeadBytes();
/** Headers a response head has from its caller (buildHead's flags). */
const SEEN_DATE = 1;
const SEEN_LENGTH = 2;
const SEEN_TE = 4;
const SEEN_CONNECTION = 8;
const SEEN_KEEP_ALIVE = 16;

function emitClose(res: ServerResponse): void {
  if (res.closeEmitted) return;
  res.closeEmitted = true;
  res.emit('close');
}

let dateCache = '';
let dateSecond = -1;

/** The Date header value, rebuilt once a second (as node:http caches it). */
function utcDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateCache = new Date(now).toUTCString();
  }
  return dateCache;
}
