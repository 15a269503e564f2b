/**
 * Shared harness of bench/tools/alloc-profile.ts and bench/tools/loop-profile.ts: one proxy-bench case (SUT
 * on CPU 0, wrk + nginx upstream on CPU 1) with a sampler preloaded into the SUT (`node -r`).
 * Samplers start on the first SIGUSR2 and write their report to $SAMPLER_OUT on the second.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '@portico/testkit';
import { PORTICO_NODE_ARGS, pin, startPeerWithArgs, startPorticoCase, startUpstream, type PorticoSetup, type Sut } from '../proxy.bench';

/**
 * Starts `which` (a Portico setup, bare-node or bare-h1) with `sampler` preloaded, runs `before` (not
 * sampled), then `work` between the two signals, and returns the sampler's report.
 */
export async function profiledCase<T>(which: string, sampler: string, work: (sut: Sut, tmp: string) => Promise<T>,
  before?: (sut: Sut, tmp: string) => Promise<void>): Promise<{ result: T; report: string }> {
  pin([process.pid], '1');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'portico-profiled-'));
  const out = path.join(tmp, 'sampler-report');
  process.env.SAMPLER_OUT = out; // inherited by the SUT
  // (BENCH_PORTICO_NODE_ARGS: flags to try on the SUT, as for the bench)
  const nodeArgs = [...PORTICO_NODE_ARGS, '-r', path.join(__dirname, sampler)];
  const upstream = await startUpstream(tmp);
  let sut: Sut | undefined;
  try {
    sut = which.startsWith('bare-') ? await startPeerWithArgs(tmp, which, upstream.port, nodeArgs)
      : await startPorticoCase(which as PorticoSetup, upstream.port, nodeArgs);
    await before?.(sut, tmp);
    const pid = sut.pids()[0];
    process.kill(pid, 'SIGUSR2');
    const result = await work(sut, tmp);
    process.kill(pid, 'SIGUSR2');
    await waitFor(() => existsSync(out), { timeoutMs: 30_000, what: `the ${sampler} report` });
    return { result, report: readFileSync(out, 'utf8') };
  } finally {
    await sut?.stop();
    await upstream.stop();
  }
}

export function runMain(main: () => Promise<void>): void {
  main().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
}
