import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api';
import { BarChart, LineChart, fmt } from './charts';
import { quantile } from './quantile';

/**
 * Traffic from `GET /apisix/admin/cluster/metrics`: the admin reads every data plane's
 * Prometheus endpoint and answers the sums. Counters are totals since each node started;
 * rates come from the difference between this page's successive samples.
 */

interface RouteTotals {
  codes: Record<string, number>;
  latency: { buckets: Array<[number | string, number]>; count: number; sum: number };
}

interface SecretTotals {
  hits: number;
  misses: number;
  fetches: number;
  errors: number;
  stale_serves: number;
}

interface MetricsReply {
  time: number;
  sources: Array<{ node: string; ok: boolean; error?: string }>;
  routes: Record<string, RouteTotals>;
  secrets: Record<string, SecretTotals>;
}

const SAMPLE_MS = 2000;
const KEEP_MS = 5 * 60_000;

function totalRequests(m: MetricsReply): number {
  let n = 0;
  for (const r of Object.values(m.routes)) for (const c of Object.values(r.codes)) n += c;
  return n;
}

function classes(codes: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  for (const [code, n] of Object.entries(codes)) {
    const k = `${code[0]}xx`;
    out[k] = (out[k] ?? 0) + n;
  }
  return out;
}

/** Bucket counts observed between two samples (the window), when the later has more. */
function windowBuckets(now: RouteTotals, then?: RouteTotals): Array<[number | string, number]> {
  if (!then || now.latency.count <= then.latency.count) return now.latency.buckets;
  return now.latency.buckets.map(([le, c], i) => [le, c - (then.latency.buckets[i]?.[1] ?? 0)]);
}

export function TrafficPage() {
  const samples = useRef<MetricsReply[]>([]);
  const [, setTick] = useState(0);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let live = true;
    const load = () => api<MetricsReply>('GET', 'cluster/metrics').then((r) => {
      if (!live) return;
      const s = samples.current;
      s.push(r.data);
      while (s.length > 2 && r.data.time - s[0].time > KEEP_MS) s.shift();
      setError(undefined);
      setTick((n) => n + 1);
    }, (e: Error) => live && setError(e.message));
    void load();
    const t = setInterval(load, SAMPLE_MS);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, []);

  const s = samples.current;
  const last = s[s.length - 1];
  const first = s[0];
  const prev = s.length > 1 ? s[s.length - 2] : undefined;
  const rateSeries: Array<[number, number]> = [];
  for (let i = 1; i < s.length; i++) {
    const dt = (s[i].time - s[i - 1].time) / 1000;
    rateSeries.push([s[i].time, dt > 0 ? Math.max(0, totalRequests(s[i]) - totalRequests(s[i - 1])) / dt : 0]);
  }
  const routeIds = last ? Object.keys(last.routes).sort() : [];
  const windowMin = first && last ? Math.max(0, (last.time - first.time) / 60_000) : 0;
  const allClasses = last ? classes(Object.values(last.routes).reduce<Record<string, number>>((acc, r) => {
    for (const [c, n] of Object.entries(r.codes)) acc[c] = (acc[c] ?? 0) + n;
    return acc;
  }, {})) : {};
  const failed = last?.sources.filter((x) => !x.ok) ?? [];
  const managers = last ? Object.keys(last.secrets).sort() : [];

  return (
    <section aria-labelledby="page-title">
      <div class="page-head"><h1 id="page-title">Traffic</h1></div>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {!last ? <p>Loading…</p> : (
        <>
          <p class="summary">
            From {last.sources.length} node{last.sources.length === 1 ? '' : 's'}{failed.length ? `; unreachable: ${failed.map((f) => `${f.node} (${f.error ?? 'error'})`).join(', ')}` : ''}.
            {' '}Totals count since each node started; rates and the latency window cover the last {fmt(windowMin)} min this page has watched.
          </p>
          <div class="cards">
            <div class="card"><h2>Requests per second</h2>
              <p class="big" data-testid="rps">{fmt(rateSeries.length ? rateSeries[rateSeries.length - 1][1] : 0)}</p>
              <LineChart points={rateSeries} label="Requests per second over the last minutes" unit="req/s" />
            </div>
            <div class="card"><h2>Status classes (total)</h2>
              <BarChart label="Responses by status class" bars={Object.entries(allClasses).map(([k, n]) => ({ label: k, parts: [{ value: n, cls: `c${k[0]}`, name: k }] }))} />
            </div>
          </div>
          <h2>Routes</h2>
          {routeIds.length === 0 ? <p>No requests yet.</p> : (
            <>
              <BarChart label="Upstream latency per route, p50 and p99, milliseconds" unit=" ms" bars={routeIds.map((id) => {
                const b = windowBuckets(last.routes[id], first?.routes[id]);
                const p50 = quantile(0.5, b) * 1000, p99 = quantile(0.99, b) * 1000;
                return { label: id || '(no route)', parts: [{ value: Number.isFinite(p50) ? p50 : 0, cls: 'p50', name: 'p50' }, { value: Number.isFinite(p99) ? Math.max(0, p99 - p50) : 0, cls: 'p99', name: 'p99 above p50' }] };
              })} />
              <div class="table-wrap" tabIndex={0} aria-label="Traffic per route table">
                <table data-testid="traffic-routes">
                  <caption class="visually-hidden">Traffic per route</caption>
                  <thead><tr><th scope="col">Route</th><th scope="col">Requests</th><th scope="col">Req/s</th><th scope="col">2xx</th><th scope="col">3xx</th><th scope="col">4xx</th><th scope="col">5xx</th><th scope="col">p50 ms</th><th scope="col">p99 ms</th></tr></thead>
                  <tbody>
                    {routeIds.map((id) => {
                      const r = last.routes[id];
                      const c = classes(r.codes);
                      const n = Object.values(r.codes).reduce((a, b) => a + b, 0);
                      const before = prev?.routes[id] ? Object.values(prev.routes[id].codes).reduce((a, b) => a + b, 0) : n;
                      const dt = prev ? (last.time - prev.time) / 1000 : 0;
                      const b = windowBuckets(r, first?.routes[id]);
                      return (
                        <tr key={id}>
                          <th scope="row">{id || '(no route matched)'}</th>
                          <td>{n}</td><td>{fmt(dt > 0 ? Math.max(0, n - before) / dt : 0)}</td>
                          <td>{c['2xx']}</td><td>{c['3xx']}</td><td>{c['4xx']}</td><td>{c['5xx']}</td>
                          <td>{fmt(quantile(0.5, b) * 1000)}</td><td>{fmt(quantile(0.99, b) * 1000)}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            </>
          )}
          <h2>Secret cache</h2>
          {managers.length === 0 ? <p>No secret manager has been used yet.</p> : (
            <>
              <BarChart label="Secret cache per manager" bars={managers.map((m) => {
                const x = last.secrets[m];
                return { label: m, parts: [{ value: x.hits, cls: 'hits', name: 'hits' }, { value: x.misses, cls: 'misses', name: 'misses' }, { value: x.fetches, cls: 'fetches', name: 'provider calls' }, { value: x.errors, cls: 'errors', name: 'errors' }] };
              })} />
              <div class="table-wrap" tabIndex={0} aria-label="Secret cache table">
                <table>
                  <caption class="visually-hidden">Secret cache per manager</caption>
                  <thead><tr><th scope="col">Manager</th><th scope="col">Hits</th><th scope="col">Misses</th><th scope="col">Provider calls</th><th scope="col">Errors</th><th scope="col">Stale serves</th><th scope="col">Hit ratio</th></tr></thead>
                  <tbody>
                    {managers.map((m) => {
                      const x = last.secrets[m];
                      return <tr key={m}><th scope="row">{m}</th><td>{x.hits}</td><td>{x.misses}</td><td>{x.fetches}</td><td>{x.errors}</td><td>{x.stale_serves}</td><td>{x.hits + x.misses ? `${fmt((100 * x.hits) / (x.hits + x.misses))} %` : '—'}</td></tr>;
                    })}
                  </tbody>
                </table>
              </div>
            </>
          )}
        </>
      )}
    </section>
  );
}
