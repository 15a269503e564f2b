/**
 * What stalls the event loop of a proxy case during the half-load run of the latency target (not part of `make bench`):
 *
 *   node -r ts-node/register/transpile-only bench/tools/loop-profile.ts <case> [req/s]
 *
 * <case>: a proxy.bench Portico setup (plain | key-auth | ...) or bare-node / bare-h1; req/s defaults to
 * half of the case's measured maximum (measured before sampling starts). Runs the case as
 * proxy.bench does with bench/tools/loop-sampler.js preloaded, and prints the open-loop run's p99 next to
 * the SUT's event-loop delay percentiles and its GC pauses by kind over the same window.
 */
import { latencyAt, measure, type LatencyResult } from '../proxy.bench';
import { profiledCase, runMain } from './profiled-case';

runMain(async () => {
  const which = process.argv[2] ?? 'key-auth';
  let rate = Number(process.argv[3]);
  const { result: p, report } = await profiledCase<LatencyResult>(which, 'loop-sampler.js', (sut) => latencyAt(sut, rate, 1),
    async (sut, tmp) => {
      if (!rate) rate = (await measure(tmp, which, which, which.startsWith('bare-') ? 'baseline' : 'portico', sut)).rps / 2;
    });
  console.log(`${which}: open loop at ${Math.round(p.rate)} req/s, p50 ${(p.p50Us / 1000).toFixed(2)} ms, p99 ${(p.p99Us / 1000).toFixed(2)} ms, ` +
    `p99.9 ${(p.p999Us / 1000).toFixed(2)} ms (generator late p99 ${p.lateP99Us} µs, CPU 0 steal ${p.stealPct} %)`);
  console.log(`  SUT over the sampled window: ${report.trim()}`);
});
