import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * A client's request as the data plane uses it (proxy, RequestContext, plugins, metrics,
 * websocket.ts): the part of node's IncomingMessage that the own server's ServerRequest
 * (@portico/http1) has too, so that either server feeds the proxy. The body is the stream.
 */
export interface ClientRequest extends Readable {
  readonly method?: string;
  readonly url?: string;
  /** Lower-case names, duplicates merged by node's rules. */
  readonly headers: IncomingHttpHeaders;
  /** Names and values as received, [name, value, ...]. */
  readonly rawHeaders: string[];
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  /** The whole body has arrived. */
  readonly complete: boolean;
  readonly socket: Socket;
}

/** The answer to a ClientRequest: the part of node's ServerResponse that the own server's has too. */
export interface ClientResponse extends NodeJS.EventEmitter {
  statusCode: number;
  statusMessage?: string;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly req: ClientRequest;
  readonly socket: Socket | null;
  setHeader(name: string, value: number | string | readonly string[]): this;
  writeHead(statusCode: number, statusMessage?: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
  /** False when the writer should wait for 'drain'. */
  write(chunk: string | Buffer): boolean;
  end(chunk?: string | Buffer): this;
  destroy(): this;
}
