import { useEffect, useState } from 'preact/hooks';
import { ApiError, api } from './api';

/**
 * After a save: how many data planes serve the new revision. It asks the registry's
 * `?wait_revision=R&timeout=5` (which answers once every node has applied R, or 504 with the
 * nodes still behind) until all have it, for at most a minute.
 */

interface NodesReply {
  total: number;
  list: Array<{ value: { id: string; config_revision?: number } }>;
}

interface Laggards {
  laggards?: unknown[];
}

export interface Saved {
  what: string;
  revision: number;
}

type State = { done: boolean; live: number; total: number; failed?: string };

export function LiveIndicator(props: { saved: Saved }) {
  const { revision, what } = props.saved;
  const [st, setSt] = useState<State>({ done: false, live: 0, total: 0 });
  useEffect(() => {
    let stop = false;
    const until = Date.now() + 60_000;
    (async () => {
      const nodes = await api<NodesReply>('GET', 'cluster/nodes').then((r) => r.data, () => undefined);
      if (nodes && !stop) {
        setSt({ done: false, total: nodes.total, live: nodes.list.filter((n) => (n.value.config_revision ?? -1) >= revision).length });
      }
      while (!stop && Date.now() < until) {
        try {
          const r = await api<NodesReply>('GET', `cluster/nodes?wait_revision=${revision}&timeout=5`);
          if (!stop) setSt({ done: true, live: r.data.total, total: r.data.total });
          return;
        } catch (e) {
          if (!(e instanceof ApiError) || e.status !== 504) {
            if (!stop) setSt((s) => ({ ...s, failed: (e as Error).message }));
            return;
          }
          const behind = ((e.body as Laggards).laggards ?? []).length;
          const all = await api<NodesReply>('GET', 'cluster/nodes').then((x) => x.data.total, () => behind);
          if (!stop) setSt({ done: false, total: all, live: Math.max(0, all - behind) });
        }
      }
      if (!stop) setSt((s) => ({ ...s, failed: 'some nodes did not apply it within a minute' }));
    })();
    return () => {
      stop = true;
    };
  }, [revision]);
  let text: string;
  if (st.failed) text = `Saved ${what} (revision ${revision}); live on ${st.live} of ${st.total} nodes: ${st.failed}.`;
  else if (st.done && st.total === 0) text = `Saved ${what} (revision ${revision}). No data plane is in the registry (a single node with the embedded store applies it itself).`;
  else if (st.done) text = `Saved ${what} (revision ${revision}): live on all nodes (${st.live} of ${st.total}).`;
  else text = `Saved ${what} (revision ${revision}): live on ${st.live} of ${st.total} nodes…`;
  return (
    <p class={st.done ? 'live done' : st.failed ? 'live failed' : 'live'} data-testid="live-indicator">
      <span class="dot" aria-hidden="true" /> {text}
    </p>
  );
}
