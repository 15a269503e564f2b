import fc from 'fast-check';
import { requestStream, type RequestStream } from './request-streams';
import { checkStream, inParallel, type ServerPair, type StreamResult } from './server-diff';

/** What a run of the server fuzz found. */
export interface ServerFuzzReport {
  seed: number;
  cases: number;
  /** Cases that reached the handler with at least one request (how much of the run was not refused). */
  handled: number;
  /** Differences by known name (deliberate ones and open bugs), with their count. */
  known: Record<string, number>;
  /** Unexplained differences: index in the run, the stream and what differed. */
  failures: Array<{ index: number; stream: RequestStream; diffs: string[] }>;
  crashes: { own: number; node: number };
}

/** Runs `runs` generated streams from `seed` against both servers, `concurrency` at a time. */
export async function fuzzServers(pair: ServerPair, seed: number, runs: number, concurrency = 16): Promise<ServerFuzzReport> {
  const streams = fc.sample(requestStream, { seed, numRuns: runs });
  const crashesBefore = { own: pair.own.crashes, node: pair.node.crashes };
  const results = await inParallel(streams, concurrency, (s) => checkStream(pair, s));
  return summarize(seed, streams, results, { own: pair.own.crashes - crashesBefore.own, node: pair.node.crashes - crashesBefore.node });
}

export function summarize(seed: number, streams: RequestStream[], results: StreamResult[], crashes: { own: number; node: number }): ServerFuzzReport {
  const report: ServerFuzzReport = { seed, cases: streams.length, handled: 0, known: {}, failures: [], crashes };
  results.forEach((r, index) => {
    if (r.node.requests.length > 0) report.handled++;
    if (r.diffs.length === 0) return;
    if (r.known) report.known[r.known] = (report.known[r.known] ?? 0) + 1;
    else report.failures.push({ index, stream: streams[index], diffs: r.diffs });
  });
  return report;
}

/**
 * Shrinks the failure at `index` of the run from `seed` with fast-check (replayed by seed and
 * path): the smallest stream that still shows an unexplained difference.
 */
export async function shrinkServerFailure(pair: ServerPair, seed: number, index: number): Promise<{ stream: RequestStream; diffs: string[] } | undefined> {
  let last: { stream: RequestStream; diffs: string[] } | undefined;
  const out = await fc.check(fc.asyncProperty(requestStream, async (s) => {
    const r = await checkStream(pair, s);
    if (r.diffs.length === 0 || r.known) return true;
    last = { stream: s, diffs: r.diffs };
    return false;
  }), { seed, path: String(index), numRuns: 1, endOnFailure: false });
  if (!out.failed || !out.counterexample) return undefined;
  const stream = out.counterexample[0];
  // the last failing run is the counterexample's (fast-check reports the smallest it found)
  return last && JSON.stringify(last.stream) === JSON.stringify(stream) ? last : { stream, diffs: last?.diffs ?? [] };
}
