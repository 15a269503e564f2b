import { useEffect, useState } from 'preact/hooks';

/**
 * Routing by the URL fragment (`#/routes/edit/1`): the admin serves one page at /ui/, and the
 * fragment never reaches the server.
 */
export function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

export function go(path: string): void {
  location.hash = '#/' + path;
}

export type View =
  | { page: 'list'; kind: string }
  | { page: 'new'; kind: string }
  | { page: 'edit'; kind: string; id: string }
  | { page: 'cluster' }
  | { page: 'traffic' };

/** `#/routes`, `#/routes/new`, `#/routes/edit/<id>`, `#/consumers/alice/credentials/...`, `#/cluster`, `#/traffic`. */
export function parseView(hash: string): View {
  const path = hash.replace(/^#\/?/, '');
  if (path === 'cluster') return { page: 'cluster' };
  if (path === 'traffic') return { page: 'traffic' };
  const edit = /^(.+?)\/edit\/([^/]+)$/.exec(path);
  if (edit) return { page: 'edit', kind: edit[1], id: decodeURIComponent(edit[2]) };
  const create = /^(.+?)\/new$/.exec(path);
  if (create) return { page: 'new', kind: create[1] };
  return { page: 'list', kind: path || 'routes' };
}
