import { loadRegressions } from './regressions';
import { checkStream, startServers, stopServers, type ServerPair } from './server-diff';
import { fuzzServers } from './server-fuzz';

/**
 * The differential safety net of the HTTP/1.1 server: Portico's own server and node:http's,
 * each in a process of its own with the same limits, get the same byte streams (valid,
 * malformed, smuggling shapes, pipelined, split, cut by the client); the answers' status
 * lines, what reached the handler, whether the server closed, and that both processes lived
 * must agree, apart from the deliberate differences of docs/http.md. A bounded, seeded run
 * here; `make fuzz` runs long and saves what it finds in regression-cases.json, replayed first.
 */
const SEED = Number(process.env.PORTICO_FUZZ_SEED ?? 20261207);
const RUNS = Number(process.env.PORTICO_FUZZ_SERVER_RUNS ?? 2000);

let pair: ServerPair;

beforeAll(async () => {
  pair = await startServers();
}, 120_000);

afterAll(async () => {
  if (pair) await stopServers(pair);
});

describe('own HTTP/1.1 server vs node:http on the same bytes', () => {
  it('agrees on every saved regression stream', async () => {
    const { server } = loadRegressions();
    const bad: string[] = [];
    for (const c of server) {
      const r = await checkStream(pair, c.stream);
      if (r.diffs.length > 0 && !r.known) bad.push(`${c.note}: ${r.diffs.join('; ')}`);
    }
    expect(bad).toEqual([]);
  }, 120_000);

  it(`agrees on ${RUNS} generated streams (seed ${SEED}), and neither process dies`, async () => {
    const report = await fuzzServers(pair, SEED, RUNS);
    // the run must exercise handled requests, not only refusals
    expect(report.handled).toBeGreaterThan(RUNS / 5);
    expect(report.crashes).toEqual({ own: 0, node: 0 });
    console.log(`server fuzz, seed ${SEED}: ${report.cases} streams, ${report.handled} reached the handler, known differences ${JSON.stringify(report.known)}`);
    expect(report.failures.map((f) => `#${f.index} ${JSON.stringify(f.stream)}\n  ${f.diffs.join('\n  ')}`)).toEqual([]);
  }, 300_000);
});
