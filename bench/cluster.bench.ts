/**
 * Cluster propagation benchmark: on a loopback cluster (3 etcd members, 1 control
 * plane, 3 data planes), 200 sequential route changes through the Admin API; for each, the
 * time from the admin reply until all 3 data planes serve the new URI. Target: p99 ≤ 100 ms.
 * Baseline measured in the same run: etcd's own put → watch-event latency on the same
 * cluster, the floor any data plane could reach.
 *
 * Run with `make bench` (or `make bench BENCH=bench/cluster.bench.ts`), against the built packages.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { EtcdStore } from '@portico/core';
import { measurePropagation, percentile, startPorticoCluster } from '@portico/testkit';

const CHANGES = 200;
const TARGET_P99_MS = 100;

async function etcdWatchLatency(endpoints: string[], n: number): Promise<number[]> {
  const store = new EtcdStore({ hosts: endpoints, timeoutSeconds: 5 });
  const out: number[] = [];
  let waiting: ((rev: number) => void) | undefined;
  const handle = await store.watch('/bench/', 1, {
    onEvents: (_events, revision) => waiting?.(revision),
    onReset: () => undefined,
  });
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const seen = new Promise<number>((resolve) => { waiting = resolve; });
      await store.put('/bench/k', String(i));
      await seen;
      out.push(performance.now() - t0);
    }
  } finally {
    await handle.cancel();
    await store.close();
  }
  return out;
}

async function main() {
  const cluster = await startPorticoCluster({ name: 'bench' });
  try {
    const baseline = await etcdWatchLatency(cluster.etcd.endpoints, CHANGES);
    const latencies = await measurePropagation(cluster, CHANGES, { timeoutMs: 10_000 });
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      changes: latencies.length,
      propagationP50Ms: +percentile(latencies, 50).toFixed(2),
      propagationP99Ms: +percentile(latencies, 99).toFixed(2),
      propagationMaxMs: +Math.max(...latencies).toFixed(2),
      etcdWatchP50Ms: +percentile(baseline, 50).toFixed(2),
      etcdWatchP99Ms: +percentile(baseline, 99).toFixed(2),
    };
    const met = result.propagationP99Ms <= TARGET_P99_MS;
    console.log(`propagation to 3 data planes over ${CHANGES} changes: p50 ${result.propagationP50Ms} ms, p99 ${result.propagationP99Ms} ms, max ${result.propagationMaxMs} ms`);
    console.log(`baseline etcd put→watch: p50 ${result.etcdWatchP50Ms} ms, p99 ${result.etcdWatchP99Ms} ms (ratio p50 ${(result.propagationP50Ms / result.etcdWatchP50Ms).toFixed(1)}x)`);
    console.log(`target p99 ≤ ${TARGET_P99_MS} ms: ${met ? 'met' : 'NOT met'}`);
    const dir = path.join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `cluster-${result.date.slice(0, 10)}.json`), JSON.stringify(result, null, 2) + '\n');
    if (!met) process.exitCode = 1;
  } finally {
    await cluster.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
