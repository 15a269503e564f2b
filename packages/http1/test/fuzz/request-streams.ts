import fc from 'fast-check';

/** `arb` one time in `n`, else undefined. */
function rarely<T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

/**
 * Request byte streams for the differential fuzz of the HTTP/1.1 server (server-diff.ts):
 * valid requests, malformed heads and the usual smuggling shapes, pipelined, split into
 * writes at random points, with the client closing or resetting at a random moment.
 *
 * Bytes are carried as latin-1 strings (one char per byte) so that a stream saved as JSON
 * (regression-cases.json) replays byte for byte.
 */
export interface RequestStream {
  /** What the client writes, in order; the server sees each write as (at least) one read. */
  writes: string[];
  /** What the client does after `actionAfter` writes: nothing, half-close (FIN), or reset (RST). */
  action: 'keep' | 'end' | 'reset';
  /** Writes sent before the action; the rest are never sent. */
  actionAfter: number;
}

/**
 * How the test handler answers (the `x-fuzz-answer` header): read the body, then 200 (default);
 * answer at once and leave the body unread (as a 404 or a failed auth does); answer with
 * Connection: close; answer chunked.
 */
export const ANSWER_MODES = ['body', 'early', 'close', 'chunked'] as const;

/** The header size limit both servers run with: small, so the generator reaches it cheaply. */
export const FUZZ_MAX_HEADER_SIZE = 4096;

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** Bytes that break HTTP parsers in interesting places. */
const NASTY = ['\0', '\r', '\n', ' ', '\t', ':', ';', ',', '"', '\x7f', '\xff', '\x0b', '\x0c', '\x01', '\x80', '=', '/', '?', '#', '%'];

const token = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS.split('')), minLength: 1, maxLength: 8 });
const nasty = fc.constantFrom(...NASTY);
/** A short latin-1 string mostly of visible chars, sometimes a nasty one. */
const text = (maxLength: number) => fc.string({
  unit: fc.oneof({ weight: 60, arbitrary: fc.constantFrom(...'abcXYZ019-_./=&'.split('')) }, { weight: 1, arbitrary: nasty }),
  maxLength,
});
/** Any bytes, as latin-1. */
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b).toString('latin1'));

const method = fc.oneof(
  { weight: 40, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH') },
  { weight: 1, arbitrary: fc.constantFrom('CONNECT', 'get', 'PRI', 'TRACE', 'M-SEARCH', 'PROPFIND', 'GET\0', 'G T', '', 'QUERY') },
  { weight: 1, arbitrary: token },
);

const target = fc.oneof(
  { weight: 30, arbitrary: fc.tuple(text(12), fc.option(text(10), { nil: undefined })).map(([p, q]) => `/${p}${q !== undefined ? `?${q}` : ''}`) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('http', 'https', 'HTTP', 'ftp'), fc.constantFrom('a.example', 'b.example:8080', '127.0.0.1', '[::1]:80', 'user@a.example', ''), text(8))
    .map(([s, h, p]) => `${s}://${h}/${p}`) },
  { weight: 1, arbitrary: fc.constantFrom('*', 'a.example:443', '', '//double', '/%00', '/a b', '/\xe9', '/..%2f', '/\t') },
);

const version = fc.oneof(
  { weight: 40, arbitrary: fc.constant('HTTP/1.1') },
  { weight: 3, arbitrary: fc.constant('HTTP/1.0') },
  { weight: 1, arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/0.9', 'HTTP/1.1 ', 'HTTP/11', 'HTTP/1.01', '') },
);

type Header = [string, string];

/** Header names: the ones that frame or route a request, others, and broken ones. */
const headerName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Expect', 'Cookie', 'Authorization', 'X-Forwarded-For', 'Upgrade', 'Keep-Alive', 'Set-Cookie', 'TE', 'Trailer', 'Content-Type') },
  { weight: 6, arbitrary: token },
  { weight: 1, arbitrary: fc.constantFrom('Content-Length ', ' Host', 'Transfer-Encoding\t', 'Ho\0st', 'X\rY', 'X\nY', '', 'x y', 'Transfer_Encoding', 'Content-Length\x0b', 'H\xe9st') },
);

const headerValue = (name: string): fc.Arbitrary<string> => {
  const n = name.toLowerCase().trim();
  const special: Record<string, string[]> = {
    'content-length': ['0', '1', '5', '10', '00', '+5', '-1', '5, 5', '5,6', ' 7 ', '0x5', '99999999999999999999', '18446744073709551616', '1e2', ''],
    'transfer-encoding': ['chunked', 'Chunked', 'gzip, chunked', 'chunked, gzip', 'identity', 'chunked ', ' chunked', 'chunked\t', 'xchunked', 'chunked, chunked', '"chunked"', 'gzip', ''],
    connection: ['close', 'keep-alive', 'Close', 'upgrade', 'close, keep-alive', 'x-fuzz-answer', 'te, close', ''],
    expect: ['100-continue', '100-Continue', '200-ok', 'foo, 100-continue', ''],
    host: ['a.example', 'b.example:8080', '', 'a.example, b.example', '[::1]', 'a b', 'x@y', 'a.example:99999', '127.0.0.1:80'],
  };
  const values = special[n];
  return values ? fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: text(10) }) : text(16);
};

const header: fc.Arbitrary<Header> = headerName.chain((name) => headerValue(name).map((v): Header => [name, v]));

/** A chunked body: chunk sizes written in odd ways, extensions, trailers, broken framing. */
const chunkedBody = fc.record({
  chunks: fc.array(fc.record({
    data: bytes(24),
    size: fc.oneof(
      { weight: 20, arbitrary: fc.constant('hex') },
      { weight: 1, arbitrary: fc.constantFrom('HEX', '0pad', 'wrong', 'overflow', 'negative', 'space', 'empty', 'junk') },
    ),
    ext: fc.oneof({ weight: 15, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(';a=b', ';a', ';a="x;y"', '; a = b', ';a=\x01', ';' + 'e'.repeat(300)) }),
    crlf: fc.oneof({ weight: 30, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '', 'XX', '\r\r\n') }),
  }), { maxLength: 4 }),
  last: fc.oneof({ weight: 20, arbitrary: fc.constant('0') }, { weight: 1, arbitrary: fc.constantFrom('', '00', '0;ext=1', '0 ') }),
  trailers: fc.oneof({ weight: 4, arbitrary: fc.constant([] as Header[]) }, { weight: 1, arbitrary: fc.array(header, { maxLength: 3 }) }),
}).map(({ chunks, last, trailers }) => {
  let s = '';
  for (const c of chunks) {
    const n = c.data.length;
    const size = {
      hex: n.toString(16), HEX: n.toString(16).toUpperCase(), '0pad': `000${n.toString(16)}`, wrong: (n + 3).toString(16),
      overflow: 'ffffffffffffffffff', negative: `-${n}`, space: ` ${n.toString(16)}`, empty: '', junk: 'zz',
    }[c.size] ?? n.toString(16);
    s += `${size}${c.ext}\r\n${c.data}${c.crlf}`;
  }
  if (last !== '') s += `${last}\r\n${trailers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return { text: s, hasTrailers: trailers.length > 0 };
});

/** One request: its parts, serialized by `serializeRequest`. */
export interface RequestParts {
  method: string;
  target: string;
  version: string;
  /** The Host header, first: the usual one, none, or an odd one (more may come from `headers`). */
  host: string | undefined;
  headers: Header[];
  /** How the body is framed: as the headers say (generated with them), or added here. */
  framing: 'none' | 'length' | 'length-short' | 'length-long' | 'chunked' | 'cl-and-te' | 'dup-length';
  body: string;
  chunked: string;
  eol: string;
  answer: (typeof ANSWER_MODES)[number] | 'none';
  /** Extra bytes before the request line (blank lines are allowed there). */
  prefix: string;
  /** Obs-fold: the index of a header whose value continues on a folded line. */
  fold?: number;
}

const requestParts: fc.Arbitrary<RequestParts> = fc.record({
  method,
  target,
  version,
  host: fc.oneof({ weight: 12, arbitrary: fc.constant('a.example') }, { weight: 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: headerValue('host') }),
  headers: fc.oneof({ weight: 3, arbitrary: fc.array(header, { maxLength: 2 }) }, { weight: 1, arbitrary: fc.array(header, { maxLength: 5 }) }),
  framing: fc.oneof(
    { weight: 12, arbitrary: fc.constant('none' as const) },
    { weight: 8, arbitrary: fc.constant('length' as const) },
    { weight: 6, arbitrary: fc.constant('chunked' as const) },
    { weight: 1, arbitrary: fc.constantFrom('length-short' as const, 'length-long' as const, 'cl-and-te' as const, 'dup-length' as const) },
  ),
  body: bytes(40),
  chunked: chunkedBody.map((c) => c.text),
  eol: fc.oneof({ weight: 30, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '\r\r\n', ' \r\n') }),
  answer: fc.oneof({ weight: 4, arbitrary: fc.constant('none' as const) }, { weight: 3, arbitrary: fc.constantFrom(...ANSWER_MODES) }),
  prefix: fc.oneof({ weight: 30, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('\r\n', '\n', '\r\n\r\n', ' ', '\0') }),
  fold: rarely(fc.nat(6), 30),
});

/** A header block large enough for the head to pass the size limit, or to come close to it. */
const bigHeader: fc.Arbitrary<Header> = fc.integer({ min: FUZZ_MAX_HEADER_SIZE - 200, max: FUZZ_MAX_HEADER_SIZE + 200 })
  .map((n): Header => ['X-Big', 'b'.repeat(n)]);

export function serializeRequest(r: RequestParts, big?: Header): string {
  const eol = r.eol;
  const headers: Header[] = [...r.headers];
  if (big) headers.push(big);
  if (r.answer !== 'none') headers.push(['X-Fuzz-Answer', r.answer]);
  let body = '';
  switch (r.framing) {
    case 'length':
      headers.push(['Content-Length', String(r.body.length)]);
      body = r.body;
      break;
    case 'length-short':
      headers.push(['Content-Length', String(r.body.length + 5)]);
      body = r.body;
      break;
    case 'length-long':
      headers.push(['Content-Length', String(Math.max(0, r.body.length - 3))]);
      body = r.body;
      break;
    case 'chunked':
      headers.push(['Transfer-Encoding', 'chunked']);
      body = r.chunked;
      break;
    case 'cl-and-te':
      headers.push(['Content-Length', String(r.body.length)], ['Transfer-Encoding', 'chunked']);
      body = r.chunked;
      break;
    case 'dup-length':
      headers.push(['Content-Length', String(r.body.length)], ['Content-Length', String(r.body.length + 1)]);
      body = r.body;
      break;
    default:
      break;
  }
  let head = `${r.prefix}${r.method} ${r.target} ${r.version}${eol}`;
  if (r.host !== undefined) head += `Host: ${r.host}${eol}`;
  headers.forEach(([k, v], i) => {
    head += `${k}: ${v}${eol}`;
    if (r.fold === i) head += ` folded${eol}`;
  });
  return `${head}${eol}${body}`;
}

/** A byte-level mutation of a whole stream: insert, delete or replace one byte. */
const mutation = fc.record({ at: fc.nat(), kind: fc.constantFrom('insert', 'delete', 'replace'), byte: nasty });

function mutate(s: string, m: { at: number; kind: string; byte: string }): string {
  if (s.length === 0) return m.byte;
  const i = m.at % s.length;
  if (m.kind === 'insert') return s.slice(0, i) + m.byte + s.slice(i);
  if (m.kind === 'delete') return s.slice(0, i) + s.slice(i + 1);
  return s.slice(0, i) + m.byte + s.slice(i + 1);
}

/** Splits `s` at the given fractions (each in [0, 1)) into non-empty writes. */
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

/** A whole stream: 1-4 pipelined requests, maybe mutated, split into writes, then an action. */
export const requestStream: fc.Arbitrary<RequestStream> = fc.record({
  requests: fc.array(requestParts, { minLength: 1, maxLength: 4 }),
  big: rarely(fc.tuple(fc.nat(3), bigHeader), 10),
  mutations: fc.oneof({ weight: 8, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 2 }) }),
  cuts: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 4 }),
  action: fc.oneof({ weight: 3, arbitrary: fc.constant('keep' as const) }, { weight: 2, arbitrary: fc.constant('end' as const) }, { weight: 2, arbitrary: fc.constant('reset' as const) }),
  early: rarely(fc.nat(), 3),
}).map(({ requests, big, mutations, cuts, action, early }) => {
  let s = requests.map((r, i) => serializeRequest(r, big && big[0] === i ? big[1] : undefined)).join('');
  for (const m of mutations) s = mutate(s, m);
  const writes = split(s, cuts);
  // The action comes after all writes, or (sometimes) earlier: the client leaves mid-stream.
  const actionAfter = early === undefined ? writes.length : early % (writes.length + 1);
  return { writes, action, actionAfter };
});
