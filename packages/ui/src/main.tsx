import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, WhoAmI, onUnauthorized, storeKey, storedKey, whoami } from './api';
import { ClusterPage, rememberWrite } from './cluster-page';
import { EditorPage } from './editor-page';
import { KINDS, Kind, kindByPath } from './kinds';
import { ListPage } from './list-page';
import { LiveIndicator, Saved } from './live';
import { parseView, useHash } from './router';
import { TrafficPage } from './traffic-page';
import './style.css';

type Session = { state: 'checking' } | { state: 'login'; error?: string } | { state: 'in'; who: WhoAmI };

function credentialsKind(username: string): Kind {
  return {
    path: `consumers/${encodeURIComponent(username)}/credentials`, title: `Credentials of ${username}`, noun: 'credential', idField: 'id',
    filters: [], editWith: 'PUT', canPost: false, consumerPlugins: true,
    columns: [{ label: 'ID', value: (v) => String(v.id ?? '') }, { label: 'Description', value: (v) => String(v.desc ?? v.name ?? '') },
      { label: 'Plugins', value: (v) => Object.keys((v.plugins as object | undefined) ?? {}).join(', ') }],
  };
}

function kindOf(path: string): Kind | undefined {
  const cred = /^consumers\/([^/]+)\/credentials$/.exec(path);
  return cred ? credentialsKind(decodeURIComponent(cred[1])) : kindByPath(path);
}

function Login(props: { error?: string; onKey: (key: string) => void }) {
  const [key, setKey] = useState('');
  return (
    <main id="main" class="login">
      <form aria-labelledby="login-title" onSubmit={(e) => {
        e.preventDefault();
        if (key) props.onKey(key);
      }}>
        <h1 id="login-title">Portico dashboard</h1>
        <p>Enter an admin or viewer key (<code>deployment.admin.admin_key</code>). It is kept for this browser tab only.</p>
        <div class="field">
          <label for="admin-key">Admin API key</label>
          <input id="admin-key" type="password" autoComplete="current-password" value={key} autoFocus
            aria-describedby={props.error ? 'login-error' : undefined} onInput={(e) => setKey((e.currentTarget as HTMLInputElement).value)} />
        </div>
        {props.error ? <p class="error" id="login-error" role="alert">{props.error}</p> : null}
        <button type="submit">Log in</button>
      </form>
    </main>
  );
}

function Nav(props: { current: string }) {
  const link = (href: string, text: string) => (
    <li><a href={`#/${href}`} aria-current={props.current === href ? 'page' : undefined}>{text}</a></li>
  );
  return (
    <nav class="side" aria-label="Sections">
      <ul>
        {link('cluster', 'Cluster')}
        {link('traffic', 'Traffic')}
      </ul>
      <h2 class="nav-title">Configuration</h2>
      <ul>{KINDS.map((k) => link(k.path, k.title))}</ul>
    </nav>
  );
}

function App() {
  const [session, setSession] = useState<Session>({ state: 'checking' });
  const [saved, setSaved] = useState<Saved | undefined>();
  const hash = useHash();

  const check = async (key: string | null) => {
    try {
      const who = await whoami(key);
      if (who.key_required) storeKey(key);
      setSession({ state: 'in', who });
    } catch (e) {
      if (key) storeKey(null);
      const wrong = e instanceof ApiError && e.status === 401;
      setSession({ state: 'login', error: key ? (wrong ? 'That key was not accepted.' : `Cannot reach the Admin API: ${(e as Error).message}`) : undefined });
    }
  };

  useEffect(() => {
    // A stored key from earlier in this tab, or none: keyless loopback access needs none.
    void check(storedKey());
    return onUnauthorized(() => {
      storeKey(null);
      setSession({ state: 'login', error: 'The key is no longer accepted; log in again.' });
    });
  }, []);

  useEffect(() => {
    const v = parseView(hash);
    const kind = 'kind' in v ? kindOf(v.kind) : undefined;
    const name = v.page === 'cluster' ? 'Cluster' : v.page === 'traffic' ? 'Traffic' : kind ? kind.title : 'Not found';
    document.title = `${name} · Portico dashboard`;
  }, [hash]);

  if (session.state === 'checking') return <main id="main" class="login"><p role="status">Connecting to the Admin API…</p></main>;
  if (session.state === 'login') return <Login error={session.error} onKey={(k) => void check(k)} />;

  const canWrite = session.who.role === 'admin';
  const view = parseView(hash);
  const onSaved = (s: Saved) => {
    if (s.revision > 0) rememberWrite(s.revision);
    setSaved(s.revision > 0 ? s : undefined);
  };
  let page;
  if (view.page === 'cluster') page = <ClusterPage />;
  else if (view.page === 'traffic') page = <TrafficPage />;
  else {
    const kind = kindOf(view.kind);
    if (!kind) page = <section><h1 id="page-title">Not found</h1><p>No page at {hash}.</p></section>;
    else if (view.page === 'list') page = <ListPage key={kind.path} kind={kind} canWrite={canWrite} onSaved={onSaved} />;
    else page = <EditorPage key={hash} kind={kind} id={view.page === 'edit' ? view.id : undefined} canWrite={canWrite} onSaved={onSaved} />;
  }
  const current = view.page === 'cluster' || view.page === 'traffic' ? view.page : view.kind.replace(/\/credentials$/, '').replace(/^consumers\/.*/, 'consumers');
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => {
        e.preventDefault();
        document.getElementById('main')?.focus();
      }}>Skip to content</a>
      <header class="top">
        <span class="brand">Portico</span>
        <span class="role" data-testid="role">{canWrite ? 'admin' : 'viewer (read-only)'}</span>
        {session.who.key_required ? (
          <button type="button" class="secondary" onClick={() => {
            storeKey(null);
            setSaved(undefined);
            setSession({ state: 'login' });
          }}>Log out</button>
        ) : <span class="hint">keyless loopback access</span>}
      </header>
      <div class="layout">
        <Nav current={current} />
        <main id="main" tabIndex={-1}>
          <div aria-live="polite">{saved ? <LiveIndicator key={saved.revision} saved={saved} /> : null}</div>
          {page}
        </main>
      </div>
    </>
  );
}

render(<App />, document.getElementById('app')!);
