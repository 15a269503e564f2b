/**
 * What makes the slow requests of an open-loop run. Used by proxy.bench.ts's latency target, and
 * on its own (not part of `make bench`):
 *
 *   BENCH_OPENLOOP_TRACE=/tmp/ol BENCH_PACED=10000 GC_MARKS_OUT=/tmp/gc.txt \
 *     node -r ts-node/register/transpile-only bench/tools/bench-profile.ts key-auth --require $PWD/bench/tools/gc-marks.js
 *   node -r ts-node/register/transpile-only bench/tools/tail-episodes.ts /tmp/gc.txt /tmp/ol-*.txt
 *
 * Reads openloop's per-request traces (`-o`, "scheduled_ms latency_us" after a header with the
 * measured part's start on CLOCK_MONOTONIC) and, optionally, the SUT's GC pauses on the same
 * clock (bench/tools/gc-marks.js). Requests slower than SLOW_US (default 1000) that were scheduled
 * within 3 ms of one another form an episode; an episode that a GC pause began in (from 6 ms
 * before its first slow request to its last) is put down to that GC.
 */
import { existsSync, readFileSync } from 'node:fs';

export const SLOW_US = Number(process.env.SLOW_US ?? 1000);

export interface Episode { from: number; to: number; slow: number; maxUs: number }

export interface TraceSummary {
  requests: number;
  p50Us: number;
  p99Us: number;
  /** Requests slower than SLOW_US, and those of them in episodes a GC pause began in. */
  slow: number;
  gcSlow: number;
  episodes: number;
  gcEpisodes: number;
  /** GC pauses that began during the run (0 when no GC marks were given). */
  gcPauses: number;
  /** The largest episodes without a GC: ms into the run, slow requests, worst latency (µs). */
  largestOther: Array<{ atMs: number; slow: number; maxUs: number }>;
}

/** GC pause start times (CLOCK_MONOTONIC ms) from a bench/tools/gc-marks.js file; [] when there is none. */
export function readGcStarts(file: string | undefined): number[] {
  if (!file || !existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => Number(l.split(' ')[0])).sort((a, b) => a - b);
}

/** One trace's slow requests grouped into episodes (not yet put down to GC pauses or not). */
export interface TraceEpisodes {
  requests: number;
  p50Us: number;
  p99Us: number;
  /** The measured part's first and last scheduled times (CLOCK_MONOTONIC ms). */
  base: number;
  end: number;
  episodes: Episode[];
}

export function readTrace(file: string): TraceEpisodes {
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
    } else episodes.push({ from: at, to: at, slow: 1, maxUs: us });
  }
  return {
    requests: rows.length,
    p50Us: latencies[rows.length >> 1] ?? 0,
    p99Us: latencies[Math.floor(rows.length * 0.99)] ?? 0,
    base,
    end: rows.length ? base + rows[rows.length - 1][0] : base,
    episodes,
  };
}

/** `t`'s slow requests, and those in episodes one of `gcStarts` began in. */
export function summarize(t: TraceEpisodes, gcStarts: number[]): TraceSummary {
  const isGc = (e: Episode) => gcStarts.some((g) => g >= e.from - 6 && g <= e.to + 0.5);
  const sum = (es: Episode[]) => es.reduce((a, e) => a + e.slow, 0);
  const gcEps: Episode[] = [];
  const otherEps: Episode[] = [];
  for (const e of t.episodes) (isGc(e) ? gcEps : otherEps).push(e);
  return {
    requests: t.requests,
    p50Us: t.p50Us,
    p99Us: t.p99Us,
    slow: sum(t.episodes),
    gcSlow: sum(gcEps),
    episodes: t.episodes.length,
    gcEpisodes: gcEps.length,
    gcPauses: gcStarts.filter((g) => g >= t.base && g <= t.end).length,
    largestOther: otherEps.sort((a, b) => b.slow - a.slow).slice(0, 8)
      .map((e) => ({ atMs: Math.round(e.from - t.base), slow: e.slow, maxUs: e.maxUs })),
  };
}

function main(): void {
  const files = process.argv.slice(2);
  const gcFile = files[0] && !/^#/.test(readFileSync(files[0], 'utf8')) ? files.shift() : undefined;
  const gcStarts = readGcStarts(gcFile);
  for (const file of files) {
    const s = summarize(readTrace(file), gcStarts);
    const pct = (n: number) => `${((100 * n) / s.requests).toFixed(2)} %`;
    console.log(`${file}: ${s.requests} requests, p50 ${s.p50Us} µs, p99 ${s.p99Us} µs; slower than ${SLOW_US} µs: ${s.slow} (${pct(s.slow)}) in ${s.episodes} episodes`);
    if (gcFile) {
      console.log(`  in GC episodes: ${s.gcSlow} (${pct(s.gcSlow)}), ${s.gcEpisodes} episodes; GC pauses in the run: ${s.gcPauses}`);
      console.log(`  largest without a GC (ms into the run: slow requests, worst ms): ${s.largestOther.map((e) => `${e.atMs}: ${e.slow}, ${(e.maxUs / 1000).toFixed(1)}`).join('; ')}`);
    }
  }
}

if (require.main === module) main();
