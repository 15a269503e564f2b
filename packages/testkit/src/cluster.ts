import { EchoUpstream, startEchoUpstream } from './echo-upstream';
import { EtcdCluster, startEtcdCluster } from './etcd-cluster';
import { PorticoProcess, type PorticoProcessOptions, startPortico } from './portico-process';

/**
 * The topology of `make cluster` and deploy/docker-compose.yml, for tests and benchmarks:
 * an N-member etcd cluster, one control plane, M data planes (each given every etcd endpoint)
 * and an echo upstream, all as separate processes on loopback.
 */
export interface PorticoCluster {
  etcd: EtcdCluster;
  cp: PorticoProcess;
  dataPlanes: PorticoProcess[];
  echo: EchoUpstream;
  /** `fetch` against the control plane's Admin API (`path` after /apisix/admin). */
  admin(path: string, init?: RequestInit): Promise<Response>;
  /** A route body pointing at the echo upstream. */
  route(uri: string): string;
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  name?: string;
  etcdMembers?: number;
  dataPlanes?: number;
  /** deployment.etcd.timeout, seconds (default 3: outage tests want fast 503s). */
  etcdTimeout?: number;
  /** Options of data plane `index` (0-based), over the cluster's own (`env` is added to its own). */
  dataPlaneOptions?: (index: number) => Partial<PorticoProcessOptions>;
}

export async function startPorticoCluster(opts: StartClusterOptions = {}): Promise<PorticoCluster> {
  const name = opts.name ?? 'cluster';
  const [etcd, echo] = await Promise.all([
    startEtcdCluster({ name: `${name}-etcd`, size: opts.etcdMembers ?? 3 }),
    startEchoUpstream({ name: 'echo' }),
  ]);
  const common = { etcd: etcd.endpoints, etcdTimeout: opts.etcdTimeout ?? 3 };
  // Started together; when one fails, those that did start are stopped too (with Promise.all
  // they outlived the test run, still heartbeating to a stopped etcd).
  const results = await Promise.allSettled([
    startPortico({ name: `${name}-cp`, role: 'control_plane', ...common }),
    ...Array.from({ length: opts.dataPlanes ?? 3 }, (_, i) => {
      const own = opts.dataPlaneOptions?.(i) ?? {};
      return startPortico({ name: `${name}-dp${i + 1}`, role: 'data_plane', ...common, ...own,
        env: { PORTICO_NODE_ID: `${name}-dp${i + 1}`, ...own.env } });
    }),
  ]);
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((p) => p.stop()));
    await Promise.all([etcd.stop(), echo.close()]);
    throw failed.reason;
  }
  const [cp, ...dataPlanes] = started;
  return {
    etcd,
    cp,
    dataPlanes,
    echo,
    admin: (path, init) => fetch(`${cp.adminUrl}/apisix/admin${path}`, init),
    route: (uri) => JSON.stringify({ uri, upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }),
    async stop() {
      await Promise.all(started.map((p) => p.stop()));
      await Promise.all([etcd.stop(), echo.close()]);
    },
  };
}

/**
 * Propagation, as SPEC §10 users experience it: each of `count` sequential changes moves
 * route `routeId` to a new URI; for each, the time from the write being acknowledged until
 * every data plane serves the new URI. Throws if a change does not arrive within `timeoutMs`.
 */
export async function measurePropagation(c: PorticoCluster, count: number, opts: { routeId?: string; timeoutMs?: number } = {}): Promise<number[]> {
  const id = opts.routeId ?? 'propagation';
  const timeoutMs = opts.timeoutMs ?? 5000;
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const uri = `/propagation/${i}`;
    const res = await c.admin(`/routes/${id}`, { method: 'PUT', body: c.route(uri) });
    if (res.status !== 200 && res.status !== 201) throw new Error(`change ${i}: admin answered ${res.status} ${await res.text()}`);
    const t0 = performance.now();
    await Promise.all(c.dataPlanes.map(async (dp) => {
      for (;;) {
        const r = await fetch(dp.proxyUrl + uri);
        await r.arrayBuffer();
        if (r.status === 200) return;
        if (performance.now() - t0 > timeoutMs) throw new Error(`change ${i} (${uri}) did not reach ${dp.name} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 1));
      }
    }));
    latencies.push(performance.now() - t0);
  }
  return latencies;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
