/**
 * The callbacks an upstream client drives for one request: undici's legacy dispatch handler
 * (onConnect / onHeaders / onData / onComplete / onError), which the proxy's Exchange
 * implements for both clients, plus `onPending` for this client.
 */
export interface UpstreamHandler {
  /** The request is on a connection and about to be written; `abort` cancels it. */
  onConnect(abort: (err?: Error) => void): void;
  /**
   * The response head. Header names and values alternate; undici gives Buffers, this client
   * strings (latin-1). Returning false pauses the body until `resume`.
   */
  onHeaders(statusCode: number, rawHeaders: Array<Buffer | string>, resume: () => void, statusMessage?: string): boolean;
  /** A body chunk; returning false pauses the body until `resume`. */
  onData(chunk: Buffer): boolean;
  onComplete(trailers: string[] | null): void;
  /** The request failed (also after `abort`, with its reason); no callback follows. */
  onError(err: Error): void;
  /**
   * This client only: no idle connection was free, so the request waits for a new one.
   * `cancel` withdraws it; nothing has been sent and the request body has not been touched.
   */
  onPending?(cancel: (err?: Error) => void): void;
}
