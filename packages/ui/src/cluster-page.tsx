import { useEffect, useState } from 'preact/hooks';
import { api } from './api';

interface NodeValue {
  id: string;
  hostname?: string;
  version?: string;
  boot_time?: number;
  config_revision?: number;
  last_seen?: number;
  metrics?: string;
}

interface NodesReply {
  total: number;
  list: Array<{ key: string; value: NodeValue }>;
  store_revision?: number;
}

/** A node beats at least every 10 s; past this without a beat its lease is about to lapse. */
const STALE_AFTER_S = 25;
const REFRESH_MS = 3000;

/** The newest configuration revision this tab wrote (the save's X-Config-Revision). */
export function rememberWrite(revision: number): void {
  const prev = Number(sessionStorage.getItem('portico.lastWrite') ?? 0);
  if (revision > prev) sessionStorage.setItem('portico.lastWrite', String(revision));
}

function lastWrite(): number {
  return Number(sessionStorage.getItem('portico.lastWrite') ?? 0);
}

function ago(unix?: number): string {
  if (typeof unix !== 'number') return 'never';
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 3600)} h ago`;
}

/**
 * The data planes in the registry. "Behind" compares each node's applied revision with the
 * newest configuration revision known here: the most advanced node's, or this tab's last save.
 * (The store's own revision also counts the nodes' heartbeats, so it is shown, not compared.)
 */
export function ClusterPage() {
  const [data, setData] = useState<NodesReply | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let live = true;
    const load = () => api<NodesReply>('GET', 'cluster/nodes').then((r) => {
      if (live) {
        setData(r.data);
        setError(undefined);
      }
    }, (e: Error) => live && setError(e.message));
    void load();
    const t = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, []);
  const newest = Math.max(lastWrite(), ...(data?.list ?? []).map((n) => n.value.config_revision ?? 0));
  const upToDate = (data?.list ?? []).filter((n) => (n.value.config_revision ?? -1) >= newest).length;
  return (
    <section aria-labelledby="page-title">
      <div class="page-head"><h1 id="page-title">Cluster</h1></div>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {data ? (
        <p class="summary" role="status">
          {data.total === 0
            ? 'No data plane is in the registry. A traditional node with the embedded store applies changes itself; data planes on etcd register here.'
            : `${data.total} data plane${data.total === 1 ? '' : 's'}, ${upToDate} on the newest configuration revision (${newest}).`}
          {data.store_revision !== undefined ? ` Store revision ${data.store_revision}.` : ''}
        </p>
      ) : <p>Loading…</p>}
      {data && data.total > 0 ? (
        <div class="table-wrap" tabIndex={0} aria-label="Data planes table">
          <table>
            <caption class="visually-hidden">Data planes</caption>
            <thead>
              <tr><th scope="col">Node</th><th scope="col">State</th><th scope="col">Config revision</th><th scope="col">Lag</th><th scope="col">Last heartbeat</th><th scope="col">Version</th><th scope="col">Host</th><th scope="col">Up since</th></tr>
            </thead>
            <tbody>
              {data.list.map(({ value: n }) => {
                const connected = typeof n.last_seen === 'number' && Date.now() / 1000 - n.last_seen <= STALE_AFTER_S;
                const behind = newest - (n.config_revision ?? 0);
                return (
                  <tr key={n.id}>
                    <th scope="row">{n.id}</th>
                    <td><span class={connected ? 'badge ok' : 'badge bad'}>{connected ? 'connected' : 'disconnected'}</span></td>
                    <td>{n.config_revision ?? '—'}</td>
                    <td>{behind <= 0 ? 'up to date' : `${behind} revision${behind === 1 ? '' : 's'} behind`}</td>
                    <td>{ago(n.last_seen)}</td>
                    <td>{n.version ?? '—'}</td>
                    <td>{n.hostname ?? '—'}</td>
                    <td>{typeof n.boot_time === 'number' ? new Date(n.boot_time * 1000).toLocaleString() : '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
