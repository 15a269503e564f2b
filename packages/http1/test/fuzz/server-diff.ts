import net from 'node:net';
import path from 'node:path';
import { FuzzChild } from './child';
import type { RequestStream } from './request-streams';
import type { HandledRequest } from './server-child';

/**
 * The differential harness of the HTTP/1.1 server: each request stream goes to Portico's own
 * server and to node:http's (server-child.ts, each in a process of its own, same limits), and
 * what the client saw and what reached the handler is compared.
 *
 * There is no message that says "the server is done with these bytes", so a case waits until
 * it is quiet: rounds of an IPC ping to the server (answered at the end of the server's loop
 * turn, after its writes) and two turns of the client's own loop, until a whole round brings
 * no new byte or event. Under load a server can still be late; a difference is therefore
 * confirmed by running the stream again, alone and slowly, before it counts (`checkStream`).
 */
export interface Observation {
  /** Each answer's status line and Connection header, in order. */
  answers: string[];
  /** What reached the handler, in order. */
  requests: HandledRequest[];
  /** The server closed (FIN or reset) the connection before the client went away. */
  closedByServer: boolean;
  /** The server process died during the case (its stderr's end). */
  crash?: string;
  /** The connection did not settle within the time allowed (a stall). */
  unsettled?: boolean;
}

export interface ServerPair {
  own: FuzzChild;
  node: FuzzChild;
}

export async function startServers(): Promise<ServerPair> {
  const script = path.join(__dirname, 'server-child.ts');
  const pair = { own: new FuzzChild(script, ['own']), node: new FuzzChild(script, ['node']) };
  await Promise.all([pair.own.start(), pair.node.start()]);
  return pair;
}

export async function stopServers(pair: ServerPair): Promise<void> {
  await Promise.all([pair.own.stop(), pair.node.stop()]);
}

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Timing {
  /** Quiet rounds a settle needs at least. */
  rounds: number;
  /** And at least this long, ms. */
  minMs: number;
  /** Give up (unsettled) after, ms. */
  maxMs: number;
  /** Pause after each write, ms (0: one loop turn of the server). */
  gapMs: number;
}

export const FAST: Timing = { rounds: 2, minMs: 0, maxMs: 3000, gapMs: 0 };
export const SLOW: Timing = { rounds: 4, minMs: 60, maxMs: 6000, gapMs: 10 };

/** Sends `stream` to `child`'s server and observes what happens. */
export async function runStream(child: FuzzChild, stream: RequestStream, timing: Timing): Promise<Observation> {
  if (!child.alive) await child.start();
  const crashesBefore = child.crashes;
  const sock = net.connect(child.port, '127.0.0.1');
  let received = '';
  let events = 0;
  let serverClosed = false;
  let gone = false;
  sock.on('data', (d: Buffer) => {
    received += d.toString('latin1');
    events++;
  });
  sock.on('end', () => {
    serverClosed = true;
    events++;
  });
  sock.on('error', () => {
    if (!gone) serverClosed = true;
    events++;
  });
  sock.on('close', () => {
    if (!gone) serverClosed = true;
    events++;
  });
  await new Promise<void>((resolve) => {
    sock.once('connect', resolve);
    sock.once('close', resolve);
  });
  const localPort = sock.localPort ?? 0;
  const obs: Observation = { answers: [], requests: [], closedByServer: false };

  /** Waits until a whole round brings nothing new; false when the server died or it took too long. */
  const settle = async (): Promise<boolean> => {
    const start = Date.now();
    let quiet = 0;
    while (quiet < timing.rounds || Date.now() - start < timing.minMs) {
      const before = events;
      const pong = await child.ask({ type: 'ping' });
      if (pong.type === 'dead') return false;
      await immediate();
      await immediate();
      if (timing.minMs > 0) await sleep(10);
      quiet = events === before ? quiet + 1 : 0;
      if (Date.now() - start > timing.maxMs) {
        obs.unsettled = true;
        return false;
      }
    }
    return true;
  };

  let alive = true;
  for (let i = 0; i < stream.actionAfter && i < stream.writes.length && alive; i++) {
    if (serverClosed || sock.destroyed) break;
    sock.write(Buffer.from(stream.writes[i], 'latin1'));
    // one turn of the server's loop, so that this write reaches it as a read of its own
    alive = (await child.ask({ type: 'ping' })).type !== 'dead';
    if (timing.gapMs > 0) await sleep(timing.gapMs);
    await immediate();
    await immediate();
  }
  if (alive) alive = await settle();
  if (alive && !sock.destroyed && !serverClosed) {
    if (stream.action === 'end') sock.end();
    else if (stream.action === 'reset') {
      gone = true;
      sock.resetAndDestroy();
    }
    alive = await settle();
  }
  obs.closedByServer = serverClosed;
  if (alive || obs.unsettled) {
    const r = await child.ask({ type: 'records', port: localPort });
    if (r.type === 'records') obs.requests = r.records as HandledRequest[];
  }
  gone = true;
  sock.destroy();
  if (child.crashes > crashesBefore || !child.alive) {
    obs.crash = child.lastCrash || 'server process died';
    if (!child.alive) await child.start();
  }
  obs.answers = answersOf(received);
  return obs;
}

/** Each response head's status line and Connection header. */
export function answersOf(received: string): string[] {
  const out: string[] = [];
  const re = /HTTP\/\d\.\d \d{3}[^\r\n]*\r\n((?:[^\r\n]+\r\n)*)\r\n/g;
  for (let m; (m = re.exec(received));) {
    const status = m[0].slice(0, m[0].indexOf('\r\n'));
    const conn = /^connection:[ \t]*([^\r\n]*)/im.exec(m[1]);
    out.push(conn ? `${status} | connection: ${conn[1].toLowerCase()}` : status);
  }
  return out;
}

/** The differences between the two servers' observations (none: the same outcome). */
export function compare(own: Observation, node: Observation): string[] {
  const diffs: string[] = [];
  if (own.crash) diffs.push(`own server crashed: ${own.crash}`);
  if (node.crash) diffs.push(`node:http crashed: ${node.crash}`);
  if (!!own.unsettled !== !!node.unsettled) diffs.push(`unsettled: own ${!!own.unsettled}, node ${!!node.unsettled}`);
  const a = JSON.stringify(own.answers);
  const b = JSON.stringify(node.answers);
  if (a !== b) diffs.push(`answers: own ${a}, node ${b}`);
  const ra = JSON.stringify(own.requests);
  const rb = JSON.stringify(node.requests);
  if (ra !== rb) diffs.push(`requests: own ${ra}, node ${rb}`);
  if (own.closedByServer !== node.closedByServer) diffs.push(`closed by server: own ${own.closedByServer}, node ${node.closedByServer}`);
  return diffs;
}

export interface StreamResult {
  diffs: string[];
  own: Observation;
  node: Observation;
  /** The named difference it is (DIFFERENCES), when it is a known one. */
  known?: string;
}

/** A difference between the servers that is known: deliberate (docs/http.md), or an open bug. */
export interface KnownDifference {
  name: string;
  kind: 'deliberate' | 'open-bug';
  why: string;
  matches(own: Observation, node: Observation): boolean;
}

/** Answers the parser's refusal produces (node:http's canned ones). */
const PARSE_ERROR_ANSWER = /^HTTP\/1\.1 (400|413|431|408) [^|]*\| connection: close$/;

/** A Host value the own server accepts: `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2), or empty. */
const HOST = /^(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|[0-9A-Za-z._~%!$&'()*+,;=-]*)(?::[0-9]*)?$/;

const sameExceptAnswers = (own: Observation, node: Observation): boolean =>
  !own.crash && !node.crash && own.closedByServer === node.closedByServer && own.requests.length === node.requests.length
  && own.requests.every((r, i) => r.method === node.requests[i].method && r.url === node.requests[i].url && r.body === node.requests[i].body
    && JSON.stringify(r.headers) === JSON.stringify(node.requests[i].headers));

export const DIFFERENCES: KnownDifference[] = [
  {
    name: 'refusal-after-answer',
    kind: 'deliberate',
    why: 'When a malformed request follows answered ones in the same read, the own server writes every answer already made, then ' +
      'the refusal (400/413/431). node:http writes the refusal only if no earlier answer is still attached to the socket (its ' +
      '\'finish\' not yet run), and drops answers queued behind such an answer: it sends fewer, depending on timing.',
    matches: (own, node) => {
      if (!sameExceptAnswers(own, node)) return false;
      const a = own.answers;
      const b = node.answers;
      const ownLast = a[a.length - 1];
      // node sent a prefix of ours, and ours ends with the refusal
      if (a.length > b.length && ownLast !== undefined && PARSE_ERROR_ANSWER.test(ownLast)
        && JSON.stringify(a.slice(0, b.length)) === JSON.stringify(b)) return true;
      // or node answered fewer, then refused: it dropped answers queued behind an unfinished one
      const nodeLast = b[b.length - 1];
      if (nodeLast !== undefined && PARSE_ERROR_ANSWER.test(nodeLast) && a.length >= b.length
        && JSON.stringify(a.slice(0, b.length - 1)) === JSON.stringify(b.slice(0, -1))) return true;
      // or node's only extra is the refusal (our earlier answer's head was on the wire already)
      return b.length === a.length + 1 && PARSE_ERROR_ANSWER.test(b[b.length - 1]) && JSON.stringify(b.slice(0, -1)) === JSON.stringify(a);
    },
  },
  {
    name: 'bad-host-400',
    kind: 'deliberate',
    why: 'A request with two Host headers, or a Host that is not `host[:port]` (RFC 9110 §7.2), is answered 400 by the own ' +
      'server (RFC 9112 §3.2); node:http hands it to the handler (and the proxy answers it 400 there).',
    matches: (own, node) => {
      if (own.crash || node.crash || own.requests.length >= node.requests.length) return false;
      if (JSON.stringify(own.requests) !== JSON.stringify(node.requests.slice(0, own.requests.length))) return false;
      const next = node.requests[own.requests.length];
      const hosts = next.headers.filter((_h, i) => i % 2 === 0 && next.headers[i].toLowerCase() === 'host');
      const value = next.headers[next.headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'host') + 1];
      const bad = hosts.length > 1 || (value !== undefined && !HOST.test(value));
      return bad && own.answers[own.requests.length]?.startsWith('HTTP/1.1 400 ') === true;
    },
  },
  {
    name: 'nothing-after-closing-answer',
    kind: 'deliberate',
    why: 'After an answer that closes the connection (Connection: close, HTTP/1.0, a 400 for a missing Host) the own server ' +
      'reads only to discard until the client closes (a lingering close). node:http parses on: it hands later requests to the ' +
      'handler though their answers can never be sent, answers a malformed one 400, and can drop the closing answer for it.',
    matches: (own, node) => {
      if (own.crash || node.crash || own.closedByServer !== node.closedByServer) return false;
      const k = own.answers.findIndex((a) => a.endsWith('| connection: close'));
      if (k < 0 || k !== own.answers.length - 1) return false;
      if (JSON.stringify(own.answers.slice(0, k)) !== JSON.stringify(node.answers.slice(0, k))) return false;
      if (own.requests.length > node.requests.length) return false;
      // the requests own handled are node's first ones (the last may have ended differently: node aborted it)
      return own.requests.every((r, i) => i === own.requests.length - 1
        ? r.method === node.requests[i].method && r.url === node.requests[i].url
        : JSON.stringify(r) === JSON.stringify(node.requests[i]));
    },
  },
];

/** The first known difference `own` and `node` show, if any. */
export function knownDifference(own: Observation, node: Observation): KnownDifference | undefined {
  return DIFFERENCES.find((d) => d.matches(own, node));
}

/**
 * Runs `stream` against both servers at once; a difference is confirmed by a slow run of each
 * in turn (a server that was merely late under load agrees then).
 */
export async function checkStream(pair: ServerPair, stream: RequestStream): Promise<StreamResult> {
  let [own, node] = await exclusive.shared(() => Promise.all([runStream(pair.own, stream, FAST), runStream(pair.node, stream, FAST)]));
  let diffs = compare(own, node);
  if (diffs.length === 0) return { diffs, own, node };
  // A known difference needs no confirmation (it fails nothing); an unexplained one does.
  const known = knownDifference(own, node);
  if (known) return { diffs, own, node, known: known.name };
  // Alone on the servers: another case's crash or load cannot be taken for this one's.
  [own, node] = await exclusive.alone(async () => [await runStream(pair.own, stream, SLOW), await runStream(pair.node, stream, SLOW)]);
  diffs = compare(own, node);
  return { diffs, own, node, known: diffs.length > 0 ? knownDifference(own, node)?.name : undefined };
}

/** Cases run side by side (shared) or alone (a confirmation), as a readers-writer lock. */
class Exclusive {
  private running = 0;
  private alone_ = false;
  private wantAlone = 0;
  private readonly waiters: Array<() => void> = [];

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.alone_ || this.wantAlone > 0) await new Promise<void>((r) => this.waiters.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.wake();
    }
  }

  async alone<T>(fn: () => Promise<T>): Promise<T> {
    this.wantAlone++;
    while (this.alone_ || this.running > 0) await new Promise<void>((r) => this.waiters.push(r));
    this.wantAlone--;
    this.alone_ = true;
    try {
      return await fn();
    } finally {
      this.alone_ = false;
      this.wake();
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const exclusive = new Exclusive();

/** Runs `items` through `fn` with at most `limit` at a time. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
