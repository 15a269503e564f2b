/**
 * What stalls the event loop of a proxy case during the paced (half-load) run of the latency
 * target (not part of `make bench`):
 *
 *   node -r ts-node/register/transpile-only bench/loop-profile.ts <case> [req/s]
 *
 * <case>: a proxy.bench Portico setup (plain | key-auth | ...) or bare-node; req/s defaults to
 * half of the case's measured maximum. Runs the case as proxy.bench does, with
 * bench/loop-sampler.js preloaded, and prints the paced run's p99 next to the SUT's event-loop
 * delay percentiles and its GC pauses by kind over the same window.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '@portico/testkit';
import { measure, paced, pin, startPeerWithArgs, startPorticoCase, startUpstream, type PorticoSetup, type Sut } from './proxy.bench';

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'key-auth';
  pin([process.pid], '1');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'portico-loop-'));
  const out = path.join(tmp, 'loop-profile.json');
  process.env.LOOP_PROFILE_OUT = out; // inherited by the SUT
  const sampler = ['-r', path.join(__dirname, 'loop-sampler.js')];
  const upstream = await startUpstream(tmp);
  let sut: Sut | undefined;
  try {
    sut = which === 'bare-node' ? await startPeerWithArgs(tmp, 'bare-node', upstream.port, sampler)
      : await startPorticoCase(which as PorticoSetup, upstream.port, sampler);
    const rate = Number(process.argv[3]) || (await measure(tmp, which, which, 'portico', sut)).rps / 2;
    const pid = sut.pids()[0];
    process.kill(pid, 'SIGUSR2');
    const p = await paced(tmp, which, sut, rate, 1);
    process.kill(pid, 'SIGUSR2');
    await waitFor(() => existsSync(out), { timeoutMs: 30_000, what: 'the loop profile' });
    console.log(`${which}: paced ${Math.round(p.rps)} req/s (${p.connections} conns), p50 ${(p.p50Us / 1000).toFixed(2)} ms, p99 ${(p.p99Us / 1000).toFixed(2)} ms`);
    console.log(`  SUT (warm-up included): ${readFileSync(out, 'utf8').trim()}`);
  } finally {
    await sut?.stop();
    await upstream.stop();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
