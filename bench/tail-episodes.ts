/**
 * What makes the slow requests of an open-loop run (not part of `make bench`):
 *
 *   BENCH_OPENLOOP_TRACE=/tmp/ol BENCH_PACED=10000 GC_MARKS_OUT=/tmp/gc.txt \
 *     node -r ts-node/register/transpile-only bench/bench-profile.ts key-auth --require ./bench/gc-marks.js
 *   node -r ts-node/register/transpile-only bench/tail-episodes.ts /tmp/gc.txt /tmp/ol-*.txt
 *
 * Reads openloop's per-request traces (`-o`, "scheduled_ms latency_us" after a header with the
 * measured part's start on CLOCK_MONOTONIC) and, optionally, the SUT's GC pauses on the same
 * clock (bench/gc-marks.js). Requests slower than SLOW_US (default 1000) that were scheduled
 * within 3 ms of one another form an episode; an episode that a GC pause began in (from 6 ms
 * before its first slow request to its last) is put down to that GC. Prints, per trace, the
 * slow requests in all and those in GC episodes, and the largest episodes without a GC.
 */
import { readFileSync } from 'node:fs';

const SLOW_US = Number(process.env.SLOW_US ?? 1000);

interface Episode { from: number; to: number; slow: number; maxUs: number; gc: boolean }

function main(): void {
  const files = process.argv.slice(2);
  const gcFile = files[0] && !/^#/.test(readFileSync(files[0], 'utf8')) ? files.shift() : undefined;
  const gcStarts = gcFile ? readFileSync(gcFile, 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[0])).sort((a, b) => a - b) : [];
  for (const file of files) {
    const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
    const base = Number(/CLOCK_MONOTONIC ([\d.]+)/.exec(header)?.[1]);
    const rows = lines.map((l) => l.split(' ').map(Number)).sort((a, b) => a[0] - b[0]);
    const latencies = rows.map((r) => r[1]).sort((a, b) => a - b);
    const episodes: Episode[] = [];
    for (const [t, us] of rows) {
      if (us < SLOW_US) continue;
      const at = base + t;
      const last = episodes[episodes.length - 1];
      if (last && at - last.to < 3) {
        last.to = at;
        last.slow++;
        last.maxUs = Math.max(last.maxUs, us);
      } else episodes.push({ from: at, to: at, slow: 1, maxUs: us, gc: false });
    }
    const end = base + rows[rows.length - 1][0];
    const gcsInRun = gcStarts.filter((g) => g >= base && g <= end).length;
    for (const e of episodes) e.gc = gcStarts.some((g) => g >= e.from - 6 && g <= e.to + 0.5);
    const slow = episodes.reduce((a, e) => a + e.slow, 0);
    const gcSlow = episodes.filter((e) => e.gc).reduce((a, e) => a + e.slow, 0);
    const pct = (n: number) => `${((100 * n) / rows.length).toFixed(2)} %`;
    console.log(`${file}: ${rows.length} requests, p50 ${latencies[rows.length >> 1]} µs, p99 ${latencies[Math.floor(rows.length * 0.99)]} µs; ` +
      `slower than ${SLOW_US} µs: ${slow} (${pct(slow)}) in ${episodes.length} episodes`);
    if (gcFile) {
      console.log(`  in GC episodes: ${gcSlow} (${pct(gcSlow)}), ${episodes.filter((e) => e.gc).length} episodes; GC pauses in the run: ${gcsInRun}`);
      const others = episodes.filter((e) => !e.gc).sort((a, b) => b.slow - a.slow).slice(0, 8);
      console.log(`  largest without a GC (ms into the run: slow requests, worst ms): ${others.map((e) => `${(e.from - base).toFixed(0)}: ${e.slow}, ${(e.maxUs / 1000).toFixed(1)}`).join('; ')}`);
    }
  }
}

main();
