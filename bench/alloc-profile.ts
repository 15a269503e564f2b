/**
 * Where a proxy case's allocation churn comes from (not part of `make bench`):
 *
 *   node -r ts-node/register/transpile-only bench/alloc-profile.ts <case>
 *
 * <case>: a proxy.bench Portico setup (plain | key-auth | key-auth-limit | many) or bare-node.
 * Runs the case as proxy.bench does (SUT on CPU 0, wrk + nginx upstream on CPU 1) with
 * bench/alloc-sampler.js preloaded, samples allocations over the warm-up and measured run, and
 * prints the top allocation sites and the bytes allocated per request. Allocation does not
 * depend on how busy the machine is, unlike req/s, so it A/Bs changes on a noisy box.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '@portico/testkit';
import { measure, pin, startPeerWithArgs, startPorticoCase, startUpstream, type PorticoSetup, type Sut } from './proxy.bench';

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'key-auth';
  pin([process.pid], '1');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'portico-alloc-'));
  const out = path.join(tmp, 'alloc-profile.txt');
  process.env.ALLOC_PROFILE_OUT = out; // inherited by the SUT
  const sampler = ['-r', path.join(__dirname, 'alloc-sampler.js')];
  const upstream = await startUpstream(tmp);
  let sut: Sut | undefined;
  try {
    sut = which === 'bare-node' ? await startPeerWithArgs(tmp, 'bare-node', upstream.port, sampler)
      : await startPorticoCase(which as PorticoSetup, upstream.port, sampler);
    const pid = sut.pids()[0];
    process.kill(pid, 'SIGUSR2');
    const r = await measure(tmp, which, which, which === 'bare-node' ? 'baseline' : 'portico', sut);
    process.kill(pid, 'SIGUSR2');
    await waitFor(() => existsSync(out), { timeoutMs: 30_000, what: 'the allocation profile' });
    const text = readFileSync(out, 'utf8');
    const total = Number(/^total (\d+)/.exec(text)?.[1]);
    // The warm-up ran at about the measured rate: count its requests too.
    const requests = r.requests * (1 + Number(process.env.BENCH_WARMUP_S ?? 2) / (r.durationUs / 1e6));
    console.log(`\n~${Math.round(total / requests)} bytes allocated per request (${(total / 1048576).toFixed(1)} MB over ~${Math.round(requests)} requests)\n`);
    console.log(text.split('\n').slice(1).join('\n'));
  } finally {
    await sut?.stop();
    await upstream.stop();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
