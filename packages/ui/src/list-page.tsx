import { useEffect, useState } from 'preact/hooks';
import { ApiError, ListReply, api } from './api';
import { explainDeleteError } from './field-errors';
import { Kind, itemIdOf } from './kinds';
import type { Saved } from './live';

const PAGE_SIZE = 20;

/**
 * A collection: the Admin API's own paging (`page`, `page_size`) and filters (`name`, `label`,
 * `uri`), a link to edit each item, and delete with an inline confirmation.
 */
export function ListPage(props: { kind: Kind; canWrite: boolean; onSaved: (s: Saved) => void }) {
  const { kind, canWrite } = props;
  const [filters, setFilters] = useState<Record<string, string>>({});
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [page, setPage] = useState(1);
  const [data, setData] = useState<ListReply | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [confirming, setConfirming] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [reload, setReload] = useState(0);

  useEffect(() => {
    setFilters({});
    setDraft({});
    setPage(1);
    setConfirming(undefined);
    setNotice(undefined);
  }, [kind.path]);

  useEffect(() => {
    let live = true;
    const q = new URLSearchParams({ page: String(page), page_size: String(PAGE_SIZE) });
    for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
    api<ListReply>('GET', `${kind.path}?${q}`).then(
      (r) => {
        if (!live) return;
        setData(r.data && Array.isArray(r.data.list) ? r.data : { total: 0, list: [] });
        setError(undefined);
      },
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [kind.path, page, JSON.stringify(filters), reload]);

  const remove = async (id: string) => {
    setConfirming(undefined);
    try {
      const r = await api('DELETE', `${kind.path}/${id.split('/').map(encodeURIComponent).join('/')}`);
      const rev = Number(r.headers.get('x-config-revision'));
      setNotice(`Deleted ${kind.noun} ${id}.`);
      if (Number.isFinite(rev) && rev > 0) props.onSaved({ what: `deletion of ${kind.noun} ${id}`, revision: rev });
      setReload((n) => n + 1);
    } catch (e) {
      setNotice(undefined);
      setError(e instanceof ApiError ? explainDeleteError(e.message) : (e as Error).message);
    }
  };

  const pages = data ? Math.max(1, Math.ceil(data.total / PAGE_SIZE)) : 1;
  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">{kind.title}</h1>
        {canWrite ? <a class="button" href={`#/${kind.path}/new`}>Create {kind.noun}</a> : null}
      </div>
      {kind.filters.length ? (
        <form class="filters" role="search" aria-label={`Filter ${kind.title.toLowerCase()}`} onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
          setPage(1);
        }}>
          {kind.filters.map((f) => (
            <span class="filter">
              <label for={`filter-${f}`}>{f === 'label' ? 'Label key' : f === 'uri' ? 'URI (regex)' : 'Name (regex)'}</label>
              <input id={`filter-${f}`} type="search" value={draft[f] ?? ''} onInput={(e) => setDraft({ ...draft, [f]: (e.currentTarget as HTMLInputElement).value })} />
            </span>
          ))}
          <button type="submit">Search</button>
        </form>
      ) : null}
      {error ? <p class="error" role="alert">{error}</p> : null}
      {notice ? <p class="notice" role="status">{notice}</p> : null}
      {!data ? <p>Loading…</p> : data.list.length === 0 ? <p>No {kind.title.toLowerCase()} {Object.values(filters).some(Boolean) ? 'match these filters' : 'yet'}.</p> : (
        <div class="table-wrap" tabIndex={0} aria-label={`${kind.title} table`}>
          <table>
            <caption class="visually-hidden">{kind.title}, page {page} of {pages}</caption>
            <thead>
              <tr>
                {kind.columns.map((c) => <th scope="col">{c.label}</th>)}
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {data.list.map((item) => {
                const id = itemIdOf(kind, item.key, item.value);
                const href = `#/${kind.path}/edit/${encodeURIComponent(id)}`;
                return (
                  <tr key={item.key}>
                    {kind.columns.map((c) => <td>{c.value(item.value, item.key)}</td>)}
                    <td class="actions">
                      <a href={href} aria-label={`${canWrite ? 'Edit' : 'View'} ${kind.noun} ${id}`}>{canWrite ? 'Edit' : 'View'}</a>
                      {kind.path === 'consumers' ? <a href={`#/consumers/${encodeURIComponent(id)}/credentials`} aria-label={`Credentials of ${id}`}>Credentials</a> : null}
                      {canWrite ? (confirming === id ? (
                        <span class="confirm" role="group" aria-label={`Confirm deletion of ${kind.noun} ${id}`}>
                          <span>Delete {kind.noun} {id}?</span>
                          <button type="button" class="danger" onClick={() => remove(id)}>Yes, delete</button>
                          <button type="button" class="secondary" onClick={() => setConfirming(undefined)}>Cancel</button>
                        </span>
                      ) : (
                        <button type="button" class="link danger" aria-label={`Delete ${kind.noun} ${id}`} onClick={() => {
                          setError(undefined);
                          setConfirming(id);
                        }}>Delete</button>
                      )) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {data && data.total > PAGE_SIZE ? (
        <nav class="pager" aria-label="Pages">
          <button type="button" class="secondary" disabled={page <= 1} onClick={() => setPage(page - 1)}>Previous</button>
          <span>Page {page} of {pages} ({data.total} in all)</span>
          <button type="button" class="secondary" disabled={page >= pages} onClick={() => setPage(page + 1)}>Next</button>
        </nav>
      ) : data ? <p class="hint">{data.total} in all.</p> : null}
    </section>
  );
}
