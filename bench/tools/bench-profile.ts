/**
 * One proxy-bench case at a time, for profiling and A/B runs of node flags (not part of
 * `make bench`). Same setup as bench/proxy.bench.ts: SUT on CPU 0, wrk + nginx upstream on CPU 1.
 *
 *   node -r ts-node/register/transpile-only bench/tools/bench-profile.ts <case> [node flags...]
 *
 * <case>: plain | key-auth | key-auth-limit | many | bare-node | bare-h1 | bare-own (the bare proxies of proxy.bench.ts). Node flags go to the SUT, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` (written when the SUT exits) or
 * `--trace-gc` (GC lines land in the Portico log, whose path is printed) or
 * `--max-semi-space-size=16` (Portico is started with NODE_FLAGS first, packages/cli/src/v8-flags.ts, and a later
 * V8 flag wins, so this measures node's default young generation). BENCH_DURATION_S / BENCH_CONNECTIONS as for the bench.
 * BENCH_REPEAT=n measures n times in a row on the same process. BENCH_PACED=1 adds an open-loop run at
 * half the measured throughput (p99 as in the bench's latency target); BENCH_PACED=<req/s> fixes
 * the pace. BENCH_HEAPSNAPSHOT=1 with `--heapsnapshot-signal=SIGUSR2` writes a heap snapshot into
 * the SUT's data dir before the run.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '@portico/testkit';
import { latencyAt, measure, pin, startPeerWithArgs, statusKB, startPorticoCase, startUpstream, type PorticoSetup } from '../proxy.bench';

/** The log of the newest Portico process started for `setup` (testkit puts it in a fresh temp dir). */
const WARMUP_MS = Number(process.env.BENCH_WARMUP_S ?? 2) * 1000;
const CLK_TCK = 100;

/** Milliseconds since process `pid` started (V8's --trace-gc clock, near enough). */
function sutUptimeMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return uptimeS * 1000 - (startTicks / CLK_TCK) * 1000;
}

function newestLog(setup: string): string {
  const dirs = readdirSync(os.tmpdir()).filter((d) => d.startsWith(`portico-bench-${setup}-`))
    .map((d) => path.join(os.tmpdir(), d)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return path.join(dirs[0], 'portico.log');
}

async function main(): Promise<void> {
  const [which = 'key-auth', ...nodeArgs] = process.argv.slice(2);
  pin([process.pid], '1');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'portico-profile-'));
  const upstream = await startUpstream(tmp);
  try {
    const sut = which.startsWith('bare-')
      ? await startPeerWithArgs(tmp, which, upstream.port, nodeArgs)
      : await startPorticoCase(which as PorticoSetup, upstream.port, nodeArgs);
    try {
      const rss = () => sut.pids().reduce((a, pid) => a + statusKB(pid, 'VmRSS'), 0) / 1024;
      console.log(`  RSS before the first run: ${rss().toFixed(1)} MB`);
      if (process.env.BENCH_HEAPSNAPSHOT) {
        // needs `--heapsnapshot-signal=SIGUSR2` among the node flags; node writes the file into the SUT's cwd
        const dir = path.dirname(newestLog(which));
        process.kill(sut.pids()[0], 'SIGUSR2');
        // Written when the file stops growing (node writes it synchronously, in chunks).
        let last = -1;
        await waitFor(() => {
          const f = readdirSync(dir).find((n) => n.endsWith('.heapsnapshot'));
          const size = f ? statSync(path.join(dir, f)).size : -1;
          const done = size > 0 && size === last;
          last = size;
          return done;
        }, { timeoutMs: 120_000, intervalMs: 1000, what: 'the heap snapshot' });
        console.log(`  heap snapshot written in ${dir}`);
      }
      const n = Number(process.env.BENCH_REPEAT ?? 1);
      // With --trace-gc: young-generation allocation per request over the measured window, from
      // the Scavenge lines (before minus the previous after). Unlike req/s it does not depend on
      // what else runs on the machine, so it A/Bs allocation changes on a busy box. V8 buffers
      // these lines until exit, so the window is kept as the SUT's own uptime (ms, as V8 prints).
      const gcLog = nodeArgs.includes('--trace-gc') && !which.startsWith('bare-') ? newestLog(which) : undefined;
      const windows: Array<{ from: number; to: number; requests: number; seconds: number }> = [];
      for (let i = 0; i < n; i++) {
        const from = sutUptimeMs(sut.pids()[0]);
        const r = await measure(tmp, which, `${which} ${nodeArgs.join(' ')}`, 'portico', sut);
        windows.push({ from: from + WARMUP_MS, to: sutUptimeMs(sut.pids()[0]), requests: r.requests, seconds: r.durationUs / 1e6 });
        if (process.env.BENCH_PACED) {
          // p99 at half of the throughput just measured (BENCH_PACED=<req/s> fixes the pace instead)
          const rate = Number(process.env.BENCH_PACED) > 1 ? Number(process.env.BENCH_PACED) : r.rps / 2;
          const p = await latencyAt(sut, rate);
          console.log(`  open loop ${which} ${nodeArgs.join(' ')}: ${Math.round(p.rate)} req/s, p50 ${(p.p50Us / 1000).toFixed(2)} ms, p99 ${(p.p99Us / 1000).toFixed(2)} ms (runs ${p.p99sUs.map((u) => (u / 1000).toFixed(2)).join(' / ')}), max ${(p.maxUs / 1000).toFixed(2)} ms, SUT CPU ${p.sutCpuPcts.join(' / ')} %`);
        }
      }
      if (gcLog) {
        await sut.stop();
        // Array.from, not a spread: ts-node's transpile-only may target ES5, where spreading an iterator yields []
        const lines = Array.from(readFileSync(gcLog, 'utf8').matchAll(/ (\d+) ms: Scavenge ([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, ([\d.]+)/g))
          .map((m) => ({ t: Number(m[1]), before: Number(m[2]), after: Number(m[3]), pause: Number(m[4]) }));
        for (const w of windows) {
          const inside = lines.filter((l) => l.t >= w.from && l.t <= w.to);
          let allocated = 0, pauseMs = 0, maxPause = 0;
          for (let k = 1; k < inside.length; k++) allocated += inside[k].before - inside[k - 1].after;
          for (const l of inside) { pauseMs += l.pause; maxPause = Math.max(maxPause, l.pause); }
          // the window's requests, scaled to the part between the first and last scavenge
          const span = inside.length > 1 ? (inside[inside.length - 1].t - inside[0].t) / 1000 : 0;
          const reqs = (w.requests / w.seconds) * span;
          console.log(`  gc: ${inside.length} scavenges (${(inside.length / w.seconds).toFixed(1)}/s), ${pauseMs.toFixed(0)} ms paused (max ${maxPause.toFixed(1)} ms), ~${reqs > 0 ? ((allocated * 1048576) / reqs).toFixed(0) : '?'} B allocated per request`);
        }
      }
    } finally {
      await sut.stop();
    }
  } finally {
    await upstream.stop();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
