import type { IncomingMessage } from 'node:http';
import { badRequest } from './errors';

/** APISIX's admin body limit: 1.5 MiB. */
export const MAX_BODY_BYTES = 1572864;

/**
 * Deepest array/object nesting accepted (cjson's default decode depth, so APISIX agrees).
 * Without a bound, a 1.5 MiB body of `[[[[...` parses fine but overflows the stack later in
 * JSON.stringify — a 500 from a malformed request, which SPEC §3.6 forbids.
 */
export const MAX_NESTING = 1000;

export type JsonBody = { present: false } | { present: true; value: unknown };

/**
 * Reads the request body (any content type: APISIX's curl examples send `-d` without a JSON
 * content type) and parses it as JSON. An empty body is "not present" so the caller can answer
 * `missing configurations`. Throws AdminError 400 with SPEC §3.6's messages.
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<JsonBody> {
  const raw = await readRawBody(req, limit);
  if (typeof raw === 'number') {
    throw badRequest(`invalid request body: request size ${raw} is greater than the maximum size ${limit} allowed`);
  }
  if (raw.length === 0) return { present: false };
  const text = raw.toString('utf8');
  const tooDeep = nestingBeyond(text, MAX_NESTING);
  if (tooDeep !== undefined) {
    throw badRequest(`invalid request body: Found too many nested data structures (${MAX_NESTING + 1}) at character ${tooDeep + 1}`);
  }
  try {
    return { present: true, value: JSON.parse(text) };
  } catch (err) {
    throw badRequest(`invalid request body: ${(err as Error).message}`);
  }
}

/**
 * The body bytes, or — when it is over `limit` — its size. A declared Content-Length over the
 * limit is answered at once without reading (Node discards the rest after the reply). A chunked
 * body is counted as it arrives and drained rather than buffered once past the limit: stopping
 * mid-stream would reset the connection and the client would never see the 400.
 */
function readRawBody(req: IncomingMessage, limit: number): Promise<Buffer | number> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.resolve(declared);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.on('end', () => resolve(size > limit ? size : Buffer.concat(chunks)));
    // A client that goes away mid-body: nobody is left to read the answer, so this is an
    // ordinary bad request rather than something to log as a server error.
    const aborted = () => reject(badRequest('invalid request body: the client aborted the request'));
    req.on('error', aborted);
    req.on('close', () => {
      if (!req.complete) aborted();
    });
  });
}

/**
 * Index of the first bracket that opens level `max + 1`, or undefined. One linear pass that
 * skips string contents, so it costs nothing next to JSON.parse and cannot itself recurse.
 */
export function nestingBeyond(text: string, max: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return undefined;
}
