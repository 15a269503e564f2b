import { checkCase, fuzzClients, RawUpstream } from './client-diff';
import { loadRegressions } from './regressions';

/**
 * The differential safety net of the upstream client: Portico's own client (h1/pool.ts) and
 * undici, configured alike, read the same raw responses (valid and hostile, split, followed by
 * a close, a reset or nothing) from a TCP node; status, reason, headers and body, or the class
 * of the failure, must agree, apart from the deliberate differences of docs/http.md. A bounded,
 * seeded run; `make fuzz` runs long and saves what it finds in regression-cases.json.
 */
const SEED = Number(process.env.PORTICO_FUZZ_SEED ?? 20261207);
const RUNS = Number(process.env.PORTICO_FUZZ_CLIENT_RUNS ?? 1000);

let node: RawUpstream;

beforeAll(async () => {
  node = new RawUpstream();
  await node.start();
});

afterAll(async () => {
  await node?.stop();
});

describe('own upstream client vs undici on the same responses', () => {
  it('agrees on every saved regression case', async () => {
    const bad: string[] = [];
    for (const c of loadRegressions().client) {
      const r = await checkCase(node, c.case);
      if (r.diffs.length > 0 && !r.known) bad.push(`${c.note}: ${r.diffs.join('; ')}`);
    }
    expect(bad).toEqual([]);
  }, 120_000);

  it(`agrees on ${RUNS} generated responses (seed ${SEED})`, async () => {
    const report = await fuzzClients(node, SEED, RUNS, 32);
    // most responses must be well-formed enough to be read whole, or the run proves little
    expect(report.completed).toBeGreaterThan(RUNS / 3);
    console.log(`client fuzz, seed ${SEED}: ${report.cases} responses, ${report.completed} read whole, known differences ${JSON.stringify(report.known)}`);
    expect(report.failures.map((f) => `#${f.index} ${JSON.stringify(f.case)}\n  ${f.diffs.join('\n  ')}`)).toEqual([]);
  }, 300_000);
});
