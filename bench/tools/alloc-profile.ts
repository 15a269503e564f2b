/**
 * Where a proxy case's allocation churn comes from (not part of `make bench`):
 *
 *   node -r ts-node/register/transpile-only bench/tools/alloc-profile.ts <case>
 *
 * <case>: a proxy.bench Portico setup (plain | key-auth | key-auth-limit | many) or bare-node / bare-h1 (the bare proxies).
 * Runs the case as proxy.bench does with bench/tools/alloc-sampler.js preloaded, samples allocations
 * over the warm-up and measured run, and prints the top allocation sites and the bytes allocated
 * per request. Allocation does not depend on how busy the machine is, unlike req/s, so it A/Bs
 * changes on a noisy box.
 */
import { measure } from '../proxy.bench';
import { profiledCase, runMain } from './profiled-case';

runMain(async () => {
  const which = process.argv[2] ?? 'key-auth';
  const { result: r, report } = await profiledCase(which, 'alloc-sampler.js',
    (sut, tmp) => measure(tmp, which, which, which.startsWith('bare-') ? 'baseline' : 'portico', sut));
  const total = Number(/^total (\d+)/.exec(report)?.[1]);
  // The warm-up ran at about the measured rate: count its requests too.
  const requests = r.requests * (1 + Number(process.env.BENCH_WARMUP_S ?? 2) / (r.durationUs / 1e6));
  console.log(`\n~${Math.round(total / requests)} bytes allocated per request (${(total / 1048576).toFixed(1)} MB over ~${Math.round(requests)} requests)\n`);
  console.log(report.split('\n').slice(1).join('\n'));
});
