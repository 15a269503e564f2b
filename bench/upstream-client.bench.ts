/**
 * Portico's own upstream client (packages/http1, used for http nodes) against undici
 * (`PORTICO_UPSTREAM_CLIENT=undici`), on the proxy bench's setup: Portico key-auth pinned to
 * CPU 0, wrk + nginx upstream on CPU 1.
 *
 * Both Portico processes run side by side and are measured alternately in short runs (pairs,
 * the order flipped every pair), so a slow minute of this shared VM hits both alike; the
 * pairwise ratio is the figure to read. BENCH_PAIRS (default 8) and BENCH_DURATION_S /
 * BENCH_WARMUP_S (default 4 / 1 here) set the length.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

process.env.BENCH_DURATION_S ??= '4';
process.env.BENCH_WARMUP_S ??= '1';
const PAIRS = Number(process.env.BENCH_PAIRS ?? 8);
const ROOT = path.resolve(__dirname, '..');

async function main(): Promise<void> {
  // After the env defaults above: proxy.bench reads them when it loads.
  const { PORTICO_NODE_ARGS, measure, median, pin, startPorticoCase, startUpstream } = await import('./proxy.bench');
  execFileSync(path.join(ROOT, 'scripts/bench-tools.sh'), { stdio: 'inherit' });
  pin([process.pid], '1');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'portico-upstream-client-'));
  const upstream = await startUpstream(tmp);
  // (unset: the default, the own client)
  const own = await startPorticoCase('key-auth', upstream.port, PORTICO_NODE_ARGS, { PORTICO_UPSTREAM_CLIENT: undefined });
  const undici = await startPorticoCase('key-auth', upstream.port, PORTICO_NODE_ARGS, { PORTICO_UPSTREAM_CLIENT: 'undici' });
  const runs: { own: number[]; undici: number[] } = { own: [], undici: [] };
  try {
    for (let i = 0; i < PAIRS; i++) {
      const order: Array<['own' | 'undici', typeof own]> = i % 2 ? [['undici', undici], ['own', own]] : [['own', own], ['undici', undici]];
      for (const [name, sut] of order) runs[name].push((await measure(tmp, `key-auth-${name}`, `key-auth, ${name} client`, 'portico', sut)).rps);
    }
  } finally {
    await own.stop();
    await undici.stop();
    await upstream.stop();
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const ratios = runs.own.map((v, i) => v / runs.undici[i]);
  const fmt = (a: number[]) => a.map((v) => Math.round(v).toLocaleString('en-US')).join(' / ');
  console.log(`\n| client | req/s per pair | mean | median |\n|---|---:|---:|---:|`);
  console.log(`| own (h1/, node's llhttp) | ${fmt(runs.own)} | ${Math.round(mean(runs.own)).toLocaleString('en-US')} | ${Math.round(median(runs.own)).toLocaleString('en-US')} |`);
  console.log(`| undici | ${fmt(runs.undici)} | ${Math.round(mean(runs.undici)).toLocaleString('en-US')} | ${Math.round(median(runs.undici)).toLocaleString('en-US')} |`);
  console.log(`\nown / undici per pair: ${ratios.map((r) => r.toFixed(2)).join(' ')}; median ${median(ratios).toFixed(2)}, own faster in ${ratios.filter((r) => r > 1).length} of ${ratios.length} pairs\n`);
  const date = new Date().toISOString().slice(0, 10);
  const outDir = path.join(ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, `upstream-client-${date}.json`),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, case: 'key-auth', runs, ratios }, null, 2) + '\n');
  console.log(`wrote bench/results/upstream-client-${date}.json`);
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
