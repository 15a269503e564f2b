import fc from 'fast-check';

/** `arb` one time in `n`, else undefined. */
function rarely<T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

/**
 * Upstream responses for the differential fuzz of the upstream client (client-diff.ts): valid
 * ones and hostile ones (bad status lines, conflicting or broken framing, obs-fold, bare LF,
 * NUL and CR in headers, oversized heads, chunk-size overflow, extensions, trailers, 1xx before
 * the answer, bytes after it), split into writes, after which the node closes, resets or
 * keeps the connection. Bytes are latin-1 strings, as in request-streams.ts.
 */
export interface UpstreamCase {
  method: 'GET' | 'HEAD' | 'POST';
  /** The response bytes the node writes once it has read the request. */
  writes: string[];
  after: 'close' | 'reset' | 'keep';
}

/** The response head size limit both clients run with. */
export const FUZZ_CLIENT_MAX_HEADER_SIZE = 4096;

type Header = [string, string];

const nasty = fc.constantFrom('\0', '\r', '\n', ' ', '\t', ':', '\x7f', '\xff', '\x01', '\x0b', '"', ',');
const text = (maxLength: number) => fc.string({
  unit: fc.oneof({ weight: 60, arbitrary: fc.constantFrom(...'abcXYZ019-_./=&; '.split('')) }, { weight: 1, arbitrary: nasty }),
  maxLength,
});
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b).toString('latin1'));
const token = fc.string({ unit: fc.constantFrom(...'abcdefxyzABC-_0123456789!#$%&\'*+.^`|~'.split('')), minLength: 1, maxLength: 8 });

const statusLine = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom('HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 500 Internal Server Error', 'HTTP/1.1 302 Found', 'HTTP/1.1 201 Created') },
  { weight: 4, arbitrary: fc.constantFrom('HTTP/1.0 200 OK', 'HTTP/1.1 204 No Content', 'HTTP/1.1 304 Not Modified', 'HTTP/1.1 200 ', 'HTTP/1.1 200', 'HTTP/1.1 599 Odd') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('HTTP/1.1 99 Low', 'HTTP/1.1 1000 High', 'HTTP/1.1 0200 Zero', 'HTTP/1.1 600 Six', 'HTTP/2 200 OK', 'HTTP/1.2 200 OK',
      'http/1.1 200 OK', 'HTTP/1.1 200 O\x01K', 'HTTP/1.1 200 O\x7fK', 'HTTP/1.1  200 OK', 'HTTP/1.1 2OO OK', 'ICY 200 OK', 'HTTP/1.1 101 Switching Protocols',
      'HTTP/1.1 200 \xe9t\xe9', 'HTTP/1.1 200 OK\r', ''),
  },
);

const headerName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('Content-Type', 'Set-Cookie', 'Cache-Control', 'Connection', 'Keep-Alive', 'X-Upstream', 'Vary', 'Location', 'Date') },
  { weight: 3, arbitrary: token },
  { weight: 1, arbitrary: fc.constantFrom('Content-Length ', ' X', 'X\0Y', 'X Y', '', 'Transfer_Encoding', 'Content-Length\x0b', 'X\xe9') },
);
const header: fc.Arbitrary<Header> = fc.tuple(headerName, fc.oneof(
  { weight: 5, arbitrary: text(16) },
  { weight: 1, arbitrary: fc.constantFrom('close', 'keep-alive', 'timeout=5', 'timeout=1', 'a=1; Path=/', '\x00', 'a\rb', '') },
));

const chunked = fc.record({
  chunks: fc.array(fc.record({
    data: bytes(30),
    size: fc.oneof({ weight: 20, arbitrary: fc.constant('hex') }, { weight: 1, arbitrary: fc.constantFrom('HEX', '0pad', 'wrong', 'overflow', 'negative', 'junk', 'space') }),
    ext: fc.oneof({ weight: 15, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(';a=b', ';a', ';a="x"', ' ;a', ';a=\x01') }),
    crlf: fc.oneof({ weight: 30, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '', 'XX') }),
  }), { maxLength: 4 }),
  last: fc.oneof({ weight: 20, arbitrary: fc.constant('0') }, { weight: 1, arbitrary: fc.constantFrom('', '00', '0;x=1') }),
  trailers: fc.oneof({ weight: 4, arbitrary: fc.constant([] as Header[]) }, { weight: 1, arbitrary: fc.array(header, { maxLength: 2 }) }),
}).map(({ chunks, last, trailers }) => {
  let s = '';
  for (const c of chunks) {
    const n = c.data.length;
    const size = {
      hex: n.toString(16), HEX: n.toString(16).toUpperCase(), '0pad': `00${n.toString(16)}`, wrong: (n + 2).toString(16),
      overflow: 'fffffffffffffffffff', negative: `-${n}`, junk: 'zz', space: `${n.toString(16)} `,
    }[c.size] ?? n.toString(16);
    s += `${size}${c.ext}\r\n${c.data}${c.crlf}`;
  }
  if (last !== '') s += `${last}\r\n${trailers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return s;
});

const response = fc.record({
  informational: fc.oneof({ weight: 10, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n') }),
  status: statusLine,
  headers: fc.array(header, { maxLength: 4 }),
  framing: fc.oneof(
    { weight: 10, arbitrary: fc.constant('length' as const) },
    { weight: 6, arbitrary: fc.constant('chunked' as const) },
    { weight: 3, arbitrary: fc.constant('close' as const) },
    { weight: 1, arbitrary: fc.constantFrom('length-short' as const, 'length-long' as const, 'cl-and-te' as const, 'dup-length' as const, 'dup-same-length' as const,
      'length-list' as const, 'length-bad' as const, 'te-gzip' as const, 'te-chunked-gzip' as const) },
  ),
  body: bytes(60),
  chunked,
  eol: fc.oneof({ weight: 30, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r') }),
  fold: rarely(fc.nat(4), 30),
  big: rarely(fc.integer({ min: FUZZ_CLIENT_MAX_HEADER_SIZE - 200, max: FUZZ_CLIENT_MAX_HEADER_SIZE + 200 }), 15),
  trailing: fc.oneof({ weight: 15, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 'garbage', '\r\n') }),
}).map((r) => {
  const headers: Header[] = [...r.headers];
  if (r.big !== undefined) headers.push(['X-Big', 'b'.repeat(r.big)]);
  let body: string;
  switch (r.framing) {
    case 'length': headers.push(['Content-Length', String(r.body.length)]); body = r.body; break;
    case 'length-short': headers.push(['Content-Length', String(r.body.length + 4)]); body = r.body; break;
    case 'length-long': headers.push(['Content-Length', String(Math.max(0, r.body.length - 4))]); body = r.body; break;
    case 'chunked': headers.push(['Transfer-Encoding', 'chunked']); body = r.chunked; break;
    case 'cl-and-te': headers.push(['Content-Length', String(r.body.length)], ['Transfer-Encoding', 'chunked']); body = r.chunked; break;
    case 'dup-length': headers.push(['Content-Length', String(r.body.length)], ['Content-Length', String(r.body.length + 1)]); body = r.body; break;
    case 'dup-same-length': headers.push(['Content-Length', String(r.body.length)], ['Content-Length', String(r.body.length)]); body = r.body; break;
    case 'length-list': headers.push(['Content-Length', `${r.body.length}, ${r.body.length}`]); body = r.body; break;
    case 'length-bad': headers.push(['Content-Length', `+${r.body.length}`]); body = r.body; break;
    case 'te-gzip': headers.push(['Transfer-Encoding', 'gzip']); body = r.body; break;
    case 'te-chunked-gzip': headers.push(['Transfer-Encoding', 'chunked, gzip']); body = r.chunked; break;
    default: body = r.body; break; // no framing: the body runs to the close
  }
  let head = `${r.informational}${r.status}${r.eol}`;
  headers.forEach(([k, v], i) => {
    head += `${k}: ${v}${r.eol}`;
    if (r.fold === i) head += ` folded${r.eol}`;
  });
  return `${head}${r.eol}${body}${r.trailing}`;
});

function split(s: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * s.length)).filter((p) => p > 0 && p < s.length))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const p of points) {
    out.push(s.slice(from, p));
    from = p;
  }
  out.push(s.slice(from));
  return out.filter((w) => w.length > 0);
}

export const upstreamCase: fc.Arbitrary<UpstreamCase> = fc.record({
  method: fc.oneof({ weight: 6, arbitrary: fc.constant('GET' as const) }, { weight: 1, arbitrary: fc.constantFrom('HEAD' as const, 'POST' as const) }),
  response,
  cuts: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 3 }),
  after: fc.oneof({ weight: 3, arbitrary: fc.constant('keep' as const) }, { weight: 2, arbitrary: fc.constant('close' as const) }, { weight: 1, arbitrary: fc.constant('reset' as const) }),
}).map(({ method, response: r, cuts, after }) => ({ method, writes: split(r, cuts), after }));
