import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, Item, api } from './api';
import { FieldError, parseFieldError } from './field-errors';
import { Kind, SECRET_MANAGERS } from './kinds';
import type { Saved } from './live';
import { go } from './router';
import { FormContext, ObjectFields, Schema, fieldId, loadPluginNames } from './schema-form';

type Obj = Record<string, unknown>;

const STAMPS = ['create_time', 'update_time'];

function idPath(id: string): string {
  return id.split('/').map(encodeURIComponent).join('/');
}

/** The stored item as the form edits it: no time stamps, no id (the URL carries it), no secret values. */
function editable(kind: Kind, value: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(value)) {
    if (STAMPS.includes(k) || k === 'id' || (kind.hidden ?? []).includes(k)) continue;
    if (kind.secretFields?.test(k)) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Create or edit one item: a form generated from the kind's schema beside the same value as
 * raw JSON; either can be edited. The Admin API validates on save, and its message is shown
 * beside the field it names.
 */
export function EditorPage(props: { kind: Kind; id?: string; canWrite: boolean; onSaved: (s: Saved) => void }) {
  const { kind, id, canWrite } = props;
  const isNew = id === undefined;
  const [scope, setScope] = useState<string>(id && kind.scope ? (kind.scope === 'manager' ? id.split('/')[0] : id) : '');
  const [newId, setNewId] = useState('');
  const [schema, setSchema] = useState<Schema | null | undefined>();
  const [value, setValue] = useState<Obj>({});
  const [loadError, setLoadError] = useState<string | undefined>();
  const [saveError, setSaveError] = useState<string | undefined>();
  const [fieldError, setFieldError] = useState<FieldError | null>(null);
  const [saving, setSaving] = useState(false);
  const [scopes, setScopes] = useState<string[]>(kind.scope === 'manager' ? SECRET_MANAGERS : []);
  const errorRef = useRef<HTMLParagraphElement>(null);

  useEffect(() => {
    if (kind.scope === 'plugin' && isNew) loadPluginNames().then(setScopes, () => undefined);
  }, [kind.path]);

  // The schema: per kind, or per secret manager / plugin once that is chosen.
  useEffect(() => {
    setSchema(undefined);
    const base = kind.path.includes('/credentials') ? 'credentials' : kind.path;
    if (kind.scope && !scope) return;
    const path = kind.scope ? `schema/${base}/${encodeURIComponent(scope)}` : `schema/${base}`;
    api<Schema>('GET', path).then((r) => setSchema(r.data), (e: Error) => {
      setSchema(null);
      setLoadError(kind.scope === 'plugin' ? `The plugin ${scope} has no metadata (${e.message}).` : e.message);
    });
  }, [kind.path, scope]);

  useEffect(() => {
    if (isNew) {
      setValue({});
      return;
    }
    api<Item>('GET', `${kind.path}/${idPath(id)}`).then((r) => setValue(editable(kind, r.data.value ?? {})), (e: Error) => setLoadError(e.message));
  }, [kind.path, id]);

  useEffect(() => {
    if (!fieldError || fieldError.path.length === 0) {
      errorRef.current?.focus();
      return;
    }
    // Focus the named field when it is on the form, else the message.
    const el = document.getElementById(fieldId(['item', ...fieldError.path]));
    if (el) el.focus();
    else errorRef.current?.focus();
  }, [fieldError]);

  const ctx: FormContext = { error: fieldError ? { ...fieldError, path: ['item', ...fieldError.path] } : null, readOnly: !canWrite, secretFields: kind.secretFields, consumerPlugins: !!kind.consumerPlugins, editing: !isNew };

  const save = async (e: Event) => {
    e.preventDefault();
    if (!canWrite || saving) return;
    setSaveError(undefined);
    setFieldError(null);
    const body: Obj = { ...value };
    let method: string = kind.editWith;
    let path: string;
    if (kind.path === 'consumers') {
      method = 'PUT';
      path = 'consumers';
      if (!isNew) body.username = id;
    } else if (isNew) {
      const wanted = kind.scope === 'plugin' ? scope : newId.trim();
      if (kind.scope === 'manager') {
        if (!scope || !wanted) return setSaveError('Choose a secret manager and give an ID.');
        path = `secrets/${encodeURIComponent(scope)}/${encodeURIComponent(wanted)}`;
        method = 'PUT';
      } else if (wanted) {
        path = `${kind.path}/${encodeURIComponent(wanted)}`;
        method = 'PUT';
      } else if (kind.canPost) {
        path = kind.path;
        method = 'POST';
      } else {
        return setSaveError(kind.scope === 'plugin' ? 'Choose a plugin.' : 'An ID is required.');
      }
    } else {
      path = `${kind.path}/${idPath(id)}`;
    }
    setSaving(true);
    try {
      const r = await api<Item>(method, path, body);
      const rev = Number(r.headers.get('x-config-revision'));
      const savedId = isNew ? (r.data?.key?.split('/').pop() ?? newId) : id;
      props.onSaved({ what: `${kind.noun} ${kind.path === 'consumers' ? String(body.username) : savedId}`, revision: Number.isFinite(rev) ? rev : 0 });
      go(kind.path);
    } catch (err) {
      const msg = (err as Error).message;
      setSaveError(msg);
      if (err instanceof ApiError && err.status === 400) setFieldError(parseFieldError(msg));
      else setFieldError({ path: [], reason: msg });
    } finally {
      setSaving(false);
    }
  };

  const title = isNew ? `Create ${kind.noun}` : `${canWrite ? 'Edit' : 'View'} ${kind.noun} ${id}`;
  return (
    <section aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">{title}</h1>
        <a href={`#/${kind.path}`}>Back to {kind.title.toLowerCase()}</a>
      </div>
      {!canWrite ? <p class="notice" role="status">Read-only: this key has the viewer role.</p> : null}
      {loadError ? <p class="error" role="alert">{loadError}</p> : null}
      <form class="editor" onSubmit={save} noValidate aria-label={title}>
        {isNew && kind.scope ? (
          <div class="field">
            <label for="scope">{kind.scope === 'manager' ? 'Secret manager' : 'Plugin'}<span class="req"> (required)</span></label>
            <select id="scope" value={scope} onChange={(e) => {
              setLoadError(undefined);
              setScope((e.currentTarget as HTMLSelectElement).value);
            }}>
              <option value="">(choose)</option>
              {scopes.map((s) => <option value={s}>{s}</option>)}
            </select>
          </div>
        ) : null}
        {isNew && kind.idField === 'id' && kind.scope !== 'plugin' ? (
          <div class="field">
            <label for="item-id">ID{kind.canPost && !kind.scope ? <span class="req"> (optional: the API picks one)</span> : <span class="req"> (required)</span>}</label>
            <input id="item-id" type="text" value={newId} spellcheck={false} onInput={(e) => setNewId((e.currentTarget as HTMLInputElement).value)} />
          </div>
        ) : null}
        <div class="editor-columns">
          <div class="form-column">
            {schema === undefined ? (kind.scope && !scope ? null : <p>Loading the schema…</p>) : schema === null ? null : (
              <ObjectFields schema={schema} value={value} onChange={setValue} path={['item']} ctx={ctx}
                omit={['id', ...(kind.hidden ?? []), ...(isNew ? [] : ['username'])]} />
            )}
          </div>
          <RawJson value={value} onChange={setValue} readOnly={!canWrite} />
        </div>
        {saveError ? <p class="error" role="alert" tabIndex={-1} ref={errorRef}>Not saved: {saveError}</p> : null}
        {canWrite ? (
          <div class="buttons">
            <button type="submit" disabled={saving}>{saving ? 'Saving…' : 'Save'}</button>
            <a href={`#/${kind.path}`}>Cancel</a>
          </div>
        ) : null}
      </form>
    </section>
  );
}

function RawJson(props: { value: Obj; onChange: (v: Obj) => void; readOnly: boolean }) {
  const [text, setText] = useState(JSON.stringify(props.value, null, 2));
  const [bad, setBad] = useState<string | undefined>();
  useEffect(() => {
    try {
      if (JSON.stringify(JSON.parse(text)) === JSON.stringify(props.value)) return;
    } catch {
      // replaced below
    }
    setText(JSON.stringify(props.value, null, 2));
    setBad(undefined);
  }, [JSON.stringify(props.value)]);
  return (
    <div class="json-column field">
      <label for="raw-json">Raw JSON</label>
      <textarea id="raw-json" class="code" spellcheck={false} readOnly={props.readOnly} value={text} aria-describedby={bad ? 'raw-json-error' : undefined}
        onInput={(e) => {
          const t = (e.currentTarget as HTMLTextAreaElement).value;
          setText(t);
          try {
            const v = JSON.parse(t) as unknown;
            if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
            setBad(undefined);
            props.onChange(v as Obj);
          } catch {
            setBad('Not a valid JSON object yet; the form keeps the last valid value.');
          }
        }} />
      {bad ? <p class="field-error" id="raw-json-error">{bad}</p> : null}
    </div>
  );
}
