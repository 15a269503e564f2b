/**
 * `make fuzz`: the differential fuzz of the HTTP/1.1 server (and the upstream client), run
 * for PORTICO_FUZZ_MINUTES (default 10) in batches with fresh seeds. Prints each seed; an
 * unexplained difference is shrunk by fast-check and saved to regression-cases.json, which every
 * `make test` replays. Exits non-zero when it found one.
 */
import { fuzzClients, RawUpstream, shrinkClientFailure } from './client-diff';
import { saveRegressions } from './regressions';
import { startServers, stopServers } from './server-diff';
import { fuzzServers, shrinkServerFailure } from './server-fuzz';

const MINUTES = Number(process.env.PORTICO_FUZZ_MINUTES ?? 10);
const BATCH = Number(process.env.PORTICO_FUZZ_BATCH ?? 2000);
const FIRST_SEED = process.env.PORTICO_FUZZ_SEED !== undefined ? Number(process.env.PORTICO_FUZZ_SEED) : Date.now() % 2 ** 31;

async function main(): Promise<number> {
  const pair = await startServers();
  const upstream = new RawUpstream();
  await upstream.start();
  const until = Date.now() + MINUTES * 60_000;
  const known: Record<string, number> = {};
  let cases = 0;
  let responses = 0;
  let found = 0;
  let seed = FIRST_SEED;
  console.log(`fuzz: ${MINUTES} min, batches of ${BATCH}, first seed ${seed}`);
  try {
    while (Date.now() < until) {
      const t0 = Date.now();
      const r = await fuzzServers(pair, seed, BATCH);
      cases += r.cases;
      for (const [k, n] of Object.entries(r.known)) known[k] = (known[k] ?? 0) + n;
      console.log(`server seed ${seed}: ${r.cases} streams in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${r.handled} reached the handler, ` +
        `known ${JSON.stringify(r.known)}, crashes ${JSON.stringify(r.crashes)}, unexplained ${r.failures.length}`);
      for (const f of r.failures.slice(0, 5)) {
        const shrunk = await shrinkServerFailure(pair, seed, f.index);
        const c = shrunk ?? { stream: f.stream, diffs: f.diffs };
        console.log(`  FOUND (seed ${seed} path ${f.index}): ${JSON.stringify(c.stream)}\n    ${c.diffs.join('\n    ')}`);
        found += saveRegressions({ server: [{ note: `seed ${seed} path ${f.index}: ${c.diffs[0]?.slice(0, 200) ?? ''}`, stream: c.stream }] });
      }
      const t1 = Date.now();
      const c = await fuzzClients(upstream, seed, Math.ceil(BATCH / 2), 32);
      responses += c.cases;
      for (const [k, n] of Object.entries(c.known)) known[`client ${k}`] = (known[`client ${k}`] ?? 0) + n;
      console.log(`client seed ${seed}: ${c.cases} responses in ${((Date.now() - t1) / 1000).toFixed(1)} s, ${c.completed} read whole, ` +
        `known ${JSON.stringify(c.known)}, unexplained ${c.failures.length}`);
      for (const f of c.failures.slice(0, 5)) {
        const shrunk = await shrinkClientFailure(upstream, seed, f.index);
        const s = shrunk ?? { case: f.case, diffs: f.diffs };
        console.log(`  FOUND (client seed ${seed} path ${f.index}): ${JSON.stringify(s.case)}\n    ${s.diffs.join('\n    ')}`);
        found += saveRegressions({ client: [{ note: `client seed ${seed} path ${f.index}: ${s.diffs[0]?.slice(0, 200) ?? ''}`, case: s.case }] });
      }
      seed = (seed + 1) % 2 ** 31;
    }
  } finally {
    await stopServers(pair);
    await upstream.stop();
  }
  console.log(`fuzz done: ${cases} server streams, ${responses} upstream responses, known differences ${JSON.stringify(known)}, new regression cases saved: ${found}`);
  return found > 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(2);
});
