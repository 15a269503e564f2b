/**
 * Portico's own HTTP/1.1 server (packages/http1/src/server.ts, the default) against
 * node:http's (`PORTICO_HTTP_SERVER=node`), with nginx proxy_pass in the same rounds, on the proxy bench's setup:
 * the system under test pinned to CPU 0, wrk + nginx upstream on CPU 1.
 *
 * The two Portico processes (key-auth) and nginx run side by side and are measured in turn in
 * short runs, the order rotated every round, so a slow minute of this shared VM hits all three
 * alike; the per-round ratios are the figures to read. BENCH_ROUNDS (default 8) and
 * BENCH_DURATION_S / BENCH_WARMUP_S (default 4 / 1 here) set the length.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

process.env.BENCH_DURATION_S ??= '4';
process.env.BENCH_WARMUP_S ??= '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const ROOT = path.resolve(__dirname, '..');

type Name = 'own' | 'node' | 'nginx';

async function main(): Promise<void> {
  // After the env defaults above: proxy.bench reads them when it loads.
  const { PORTICO_NODE_ARGS, measure, median, pin, startNginxProxy, startPorticoCase, startUpstream } = await import('./proxy.bench');
  execFileSync(path.join(ROOT, 'scripts/bench-tools.sh'), { stdio: 'inherit' });
  pin([process.pid], '1');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'portico-http-server-'));
  const upstream = await startUpstream(tmp);
  // (unset: the default, the own server)
  const own = await startPorticoCase('key-auth', upstream.port, PORTICO_NODE_ARGS, { PORTICO_HTTP_SERVER: undefined });
  const node = await startPorticoCase('key-auth', upstream.port, PORTICO_NODE_ARGS, { PORTICO_HTTP_SERVER: 'node' });
  const nginx = await startNginxProxy(tmp, upstream.port);
  const suts = { own, node, nginx };
  const runs: Record<Name, number[]> = { own: [], node: [], nginx: [] };
  /** CPU time of the system under test per request, µs (less noise-bound than req/s here). */
  const cpu: Record<Name, number[]> = { own: [], node: [], nginx: [] };
  const order: Name[] = ['own', 'node', 'nginx'];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const turn = [...order.slice(i % 3), ...order.slice(0, i % 3)];
      for (const name of turn) {
        const kind = name === 'nginx' ? 'baseline' : 'portico';
        const r = await measure(tmp, `http-server-${name}`, `${name}`, kind, suts[name]);
        runs[name].push(r.rps);
        cpu[name].push(r.sutCpuPct !== null ? (r.sutCpuPct / 100) * 1e6 / r.rps : NaN);
      }
    }
  } finally {
    await own.stop();
    await node.stop();
    await nginx.stop();
    await upstream.stop();
  }
  const fmt = (a: number[]) => a.map((v) => Math.round(v).toLocaleString('en-US')).join(' / ');
  const ratio = (a: Name, b: Name) => runs[a].map((v, i) => v / runs[b][i]);
  const line = (label: string, r: number[]) =>
    `${label}: ${r.map((x) => x.toFixed(2)).join(' ')}; median ${median(r).toFixed(2)}`;
  console.log(`\n| system | req/s per round | median |\n|---|---:|---:|`);
  console.log(`| Portico key-auth, own server | ${fmt(runs.own)} | ${Math.round(median(runs.own)).toLocaleString('en-US')} |`);
  console.log(`| Portico key-auth, node:http | ${fmt(runs.node)} | ${Math.round(median(runs.node)).toLocaleString('en-US')} |`);
  console.log(`| nginx proxy_pass | ${fmt(runs.nginx)} | ${Math.round(median(runs.nginx)).toLocaleString('en-US')} |`);
  console.log(`\n${line('own server / node:http per round', ratio('own', 'node'))}`);
  console.log(line('own server / nginx per round', ratio('own', 'nginx')));
  console.log(`${line('node:http / nginx per round', ratio('node', 'nginx'))}`);
  const us = (name: Name) => cpu[name].map((v) => v.toFixed(1)).join(' / ');
  console.log(`\nSUT CPU per request (µs), per round: own server ${us('own')} (median ${median(cpu.own).toFixed(1)}); ` +
    `node:http ${us('node')} (median ${median(cpu.node).toFixed(1)}); nginx ${us('nginx')} (median ${median(cpu.nginx).toFixed(1)})\n`);
  const date = new Date().toISOString().slice(0, 10);
  const outDir = path.join(ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, `http-server-${date}.json`),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, case: 'key-auth', runs, cpuUsPerRequest: cpu }, null, 2) + '\n');
  console.log(`wrote bench/results/http-server-${date}.json`);
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
