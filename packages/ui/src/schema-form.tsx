import { useEffect, useState } from 'preact/hooks';
import type { ComponentChildren, JSX } from 'preact';
import { api } from './api';
import type { FieldError } from './field-errors';

/**
 * A form generated from a JSON schema as the Admin API serves it. The edited value is plain
 * JSON; every field writes its part of it back through onChange (undefined removes the key).
 * Shapes without a natural form control (conditional schemas, free objects) get a small JSON
 * box of their own, so nothing the API accepts is out of reach.
 */

export type Schema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  description?: string;
  default?: unknown;
};
type Json = unknown;
type Obj = Record<string, Json>;

export interface FormContext {
  error: FieldError | null;
  readOnly: boolean;
  /** Field names shown as password inputs, never filled from the stored item. */
  secretFields?: RegExp;
  /** Plugins take their consumer schema (consumers, credentials). */
  consumerPlugins: boolean;
  /** Editing a stored item (an empty secret field then keeps the stored value). */
  editing: boolean;
}

const SKIP = new Set(['create_time', 'update_time', '_meta']);

export function fieldId(path: string[]): string {
  return 'f-' + path.map((p) => p.replace(/[^A-Za-z0-9_-]/g, '_')).join('--');
}

const ACRONYMS: Record<string, string> = { id: 'ID', uri: 'URI', uris: 'URIs', url: 'URL', ip: 'IP', sni: 'SNI', snis: 'SNIs', ssl: 'SSL', tls: 'TLS', sts: 'STS', http: 'HTTP', ttl: 'TTL', arn: 'ARN', ca: 'CA', jwt: 'JWT' };

function humanize(name: string): string {
  const s = name.split('_').map((w) => ACRONYMS[w] ?? w).join(' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function typesOf(s: Schema): string[] {
  if (s.type === undefined) return [];
  return Array.isArray(s.type) ? s.type : [s.type];
}

function isObj(v: Json): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function samePath(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function startsWith(path: string[], prefix: string[]): boolean {
  return prefix.length <= path.length && prefix.every((x, i) => x === path[i]);
}

/** The error when it names this field (or, for a field edited as one box, anything inside it). */
function errorFor(ctx: FormContext, path: string[], whole = false): string | undefined {
  const e = ctx.error;
  if (!e || e.path.length === 0) return undefined;
  return samePath(e.path, path) || (whole && startsWith(e.path, path)) ? e.reason : undefined;
}

interface FieldProps {
  name: string;
  schema: Schema;
  value: Json;
  onChange: (v: Json) => void;
  path: string[];
  required: boolean;
  ctx: FormContext;
}

function FieldShell(props: { id: string; label: string; required: boolean; error?: string; hint?: string; children: ComponentChildren }) {
  return (
    <div class={props.error ? 'field has-error' : 'field'}>
      <label for={props.id}>
        {props.label}
        {props.required ? <span class="req"> (required)</span> : null}
      </label>
      {props.children}
      {props.hint ? <p class="hint" id={props.id + '-hint'}>{props.hint}</p> : null}
      {props.error ? <p class="field-error" id={props.id + '-error'} role="alert">{props.error}</p> : null}
    </div>
  );
}

function describedBy(id: string, hint?: string, error?: string): string | undefined {
  const ids = [hint ? id + '-hint' : '', error ? id + '-error' : ''].filter(Boolean).join(' ');
  return ids || undefined;
}

/** Picks the branch of anyOf/oneOf that fits the value, or the most form-friendly one. */
function branchFor(s: Schema, value: Json): Schema | undefined {
  const branches = s.anyOf ?? s.oneOf;
  if (!branches) return undefined;
  const fits = (b: Schema) => {
    const t = typesOf(b);
    if (value === undefined) return false;
    if (Array.isArray(value)) return t.includes('array');
    if (isObj(value)) return t.includes('object');
    if (typeof value === 'string') return t.includes('string') || (b.enum ?? []).includes(value);
    if (typeof value === 'number') return t.includes('integer') || t.includes('number');
    return false;
  };
  return branches.find(fits) ?? branches.find((b) => typesOf(b).includes('array') && b.items?.properties) ?? branches.find((b) => typesOf(b).includes('string')) ?? branches[0];
}

export function SchemaField(props: FieldProps): JSX.Element {
  const { schema: s, name, value, onChange, path, required, ctx } = props;
  const id = fieldId(path);
  const label = humanize(name);
  if (name === 'plugins' && typesOf(s).includes('object') && !s.properties) {
    return <PluginsField value={value} onChange={onChange} path={path} ctx={ctx} />;
  }
  if (s.anyOf || s.oneOf) {
    const branches = (s.anyOf ?? s.oneOf)!;
    // Every branch a scalar (ids: string or integer): one text box; digits stay a string, which the API accepts.
    if (branches.every((b) => typesOf(b).some((t) => t === 'string' || t === 'integer' || t === 'number') && !b.properties && !b.items)) {
      return <SchemaField {...props} schema={{ ...branches.find((b) => typesOf(b).includes('string')) ?? branches[0], description: s.description }} />;
    }
    const b = branchFor(s, value);
    if (b) return <SchemaField {...props} schema={{ ...b, description: s.description }} />;
  }
  if (s.enum || s.const !== undefined) {
    const options = s.enum ?? [s.const];
    const err = errorFor(ctx, path);
    return (
      <FieldShell id={id} label={label} required={required} error={err}>
        <select id={id} disabled={ctx.readOnly} aria-invalid={err ? true : undefined} aria-describedby={describedBy(id, undefined, err)}
          value={value === undefined ? '' : String(options.indexOf(value))}
          onChange={(e) => {
            const i = (e.currentTarget as HTMLSelectElement).value;
            onChange(i === '' ? undefined : options[Number(i)]);
          }}>
          <option value="">(not set)</option>
          {options.map((o, i) => <option value={String(i)}>{String(o)}</option>)}
        </select>
      </FieldShell>
    );
  }
  const types = typesOf(s);
  if (types.includes('boolean')) {
    const err = errorFor(ctx, path);
    return (
      <FieldShell id={id} label={label} required={required} error={err}>
        <select id={id} disabled={ctx.readOnly} value={value === undefined ? '' : String(value)} aria-describedby={describedBy(id, undefined, err)}
          onChange={(e) => {
            const v = (e.currentTarget as HTMLSelectElement).value;
            onChange(v === '' ? undefined : v === 'true');
          }}>
          <option value="">(not set)</option>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      </FieldShell>
    );
  }
  if (types.includes('integer') || types.includes('number')) {
    const err = errorFor(ctx, path);
    return (
      <FieldShell id={id} label={label} required={required} error={err}>
        <input id={id} type="number" inputMode={types.includes('integer') ? 'numeric' : 'decimal'} readOnly={ctx.readOnly}
          step={types.includes('integer') ? 1 : 'any'} min={s.minimum} max={s.maximum}
          value={typeof value === 'number' ? String(value) : ''} aria-invalid={err ? true : undefined} aria-describedby={describedBy(id, undefined, err)}
          onInput={(e) => {
            const raw = (e.currentTarget as HTMLInputElement).value;
            onChange(raw === '' ? undefined : Number(raw));
          }} />
      </FieldShell>
    );
  }
  if (types.includes('string')) {
    const err = errorFor(ctx, path);
    const secret = ctx.secretFields?.test(name) ?? false;
    const long = (s.minLength ?? 0) >= 64 || (s.maxLength ?? 0) > 4096;
    const hint = !secret ? undefined : ctx.editing ? 'Never shown. Leave empty to keep the stored value.' : 'Never shown once saved.';
    const common = {
      id, readOnly: ctx.readOnly, value: typeof value === 'string' ? value : '',
      'aria-invalid': err ? true : undefined, 'aria-describedby': describedBy(id, hint, err),
      onInput: (e: Event) => {
        const v = (e.currentTarget as HTMLInputElement).value;
        onChange(v === '' ? undefined : v);
      },
    };
    return (
      <FieldShell id={id} label={label} required={required} error={err} hint={hint}>
        {long && !secret ? <textarea rows={4} spellcheck={false} {...common} />
          : secret ? <input type="password" autoComplete="new-password" spellcheck={false} {...common} />
          : <input type="text" autoComplete="off" spellcheck={false} {...common} />}
      </FieldShell>
    );
  }
  if (types.includes('array') && s.items) {
    const items = s.items;
    if (items.enum) return <EnumSetField {...props} options={items.enum} />;
    const it = typesOf(items);
    if (items.properties) return <ObjectListField {...props} />;
    if ((it.includes('string') || items.anyOf) && !items.properties) {
      const err = errorFor(ctx, path, true);
      const list = Array.isArray(value) ? value : [];
      return (
        <FieldShell id={id} label={label} required={required} error={err} hint="One per line.">
          <textarea id={id} rows={Math.max(2, list.length + 1)} readOnly={ctx.readOnly} spellcheck={false}
            aria-describedby={describedBy(id, 'h', err)} value={list.map(String).join('\n')}
            onInput={(e) => {
              const lines = (e.currentTarget as HTMLTextAreaElement).value.split('\n').map((l) => l.trim()).filter((l) => l !== '');
              onChange(lines.length ? lines : undefined);
            }} />
        </FieldShell>
      );
    }
  }
  if (types.includes('object') && s.properties) {
    return <ObjectField {...props} />;
  }
  if (types.includes('object') && s.patternProperties && !s.properties) {
    return <MapField {...props} />;
  }
  return <JsonField {...props} />;
}

function ObjectField(props: FieldProps) {
  const { schema: s, value, onChange, path, ctx } = props;
  const obj = isObj(value) ? value : {};
  const body = <ObjectFields schema={s} value={obj} onChange={(v) => onChange(Object.keys(v).length ? v : undefined)} path={path} ctx={ctx} />;
  const err = errorFor(ctx, path);
  return (
    <details class="group" open={isObj(value) || props.required || (ctx.error !== null && startsWith(ctx.error.path, path))}>
      <summary>{humanize(props.name)}{props.required ? ' (required)' : ''}</summary>
      <fieldset>
        <legend class="visually-hidden">{humanize(props.name)}</legend>
        {err ? <p class="field-error" role="alert">{err}</p> : null}
        {body}
      </fieldset>
    </details>
  );
}

/** The properties of an object schema, in schema order. */
export function ObjectFields(props: { schema: Schema; value: Obj; onChange: (v: Obj) => void; path: string[]; ctx: FormContext; omit?: string[] }) {
  const { schema, value, onChange, path, ctx } = props;
  const required = new Set(schema.required ?? []);
  const names = Object.keys(schema.properties ?? {}).filter((n) => !SKIP.has(n) && !(props.omit ?? []).includes(n));
  return (
    <>
      {names.map((n) => (
        <SchemaField key={n} name={n} schema={schema.properties![n]} value={value[n]} path={[...path, n]} required={required.has(n)} ctx={ctx}
          onChange={(v) => {
            const next = { ...value };
            if (v === undefined) delete next[n];
            else next[n] = v;
            onChange(next);
          }} />
      ))}
    </>
  );
}

function EnumSetField(props: FieldProps & { options: unknown[] }) {
  const { value, onChange, path, ctx, options } = props;
  const chosen = new Set(Array.isArray(value) ? value : []);
  const err = errorFor(ctx, path, true);
  return (
    <fieldset class={err ? 'field choices has-error' : 'field choices'}>
      <legend>{humanize(props.name)}{props.required ? ' (required)' : ''}</legend>
      {options.map((o) => {
        const id = fieldId([...path, String(o)]);
        return (
          <span class="choice">
            <input type="checkbox" id={id} checked={chosen.has(o)} disabled={ctx.readOnly}
              onChange={(e) => {
                const on = (e.currentTarget as HTMLInputElement).checked;
                const next = options.filter((x) => (x === o ? on : chosen.has(x)));
                onChange(next.length ? next : undefined);
              }} />
            <label for={id}>{String(o)}</label>
          </span>
        );
      })}
      {err ? <p class="field-error" role="alert">{err}</p> : null}
    </fieldset>
  );
}

/** An array of objects (upstream nodes): one small fieldset per row. */
function ObjectListField(props: FieldProps) {
  const { schema: s, value, onChange, path, ctx } = props;
  const rows = Array.isArray(value) ? (value as Obj[]) : [];
  const err = errorFor(ctx, path, true);
  const set = (next: Obj[]) => onChange(next.length ? next : undefined);
  return (
    <fieldset class={err ? 'field rows has-error' : 'field rows'}>
      <legend>{humanize(props.name)}{props.required ? ' (required)' : ''}</legend>
      {rows.map((row, i) => (
        <div class="row" key={i}>
          <ObjectFields schema={s.items!} value={isObj(row) ? row : {}} path={[...path, String(i)]} ctx={ctx}
            onChange={(v) => set(rows.map((r, j) => (j === i ? v : r)))} />
          {ctx.readOnly ? null : (
            <button type="button" class="secondary" onClick={() => set(rows.filter((_, j) => j !== i))}>
              Remove {humanize(props.name).replace(/s$/, '').toLowerCase()} {i + 1}
            </button>
          )}
        </div>
      ))}
      {ctx.readOnly ? null : (
        <button type="button" class="secondary" onClick={() => set([...rows, {}])}>
          Add {humanize(props.name).replace(/s$/, '').toLowerCase()}
        </button>
      )}
      {err ? <p class="field-error" role="alert">{err}</p> : null}
    </fieldset>
  );
}

/** An object of free keys (labels): `key=value` lines. */
function MapField(props: FieldProps) {
  const { schema: s, value, onChange, path, ctx } = props;
  const id = fieldId(path);
  const valueSchema = Object.values(s.patternProperties ?? {})[0] ?? {};
  const numeric = typesOf(valueSchema).some((t) => t === 'integer' || t === 'number');
  const obj = isObj(value) ? value : {};
  const show = (o: Obj) => Object.entries(o).map(([k, v]) => `${k}=${String(v)}`).join('\n');
  const parse = (t: string): Obj | undefined => {
    const next: Obj = {};
    for (const line of t.split('\n')) {
      const at = line.indexOf('=');
      if (at <= 0) continue;
      const v = line.slice(at + 1).trim();
      next[line.slice(0, at).trim()] = numeric && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v;
    }
    return Object.keys(next).length ? next : undefined;
  };
  const [text, setText] = useState(show(obj));
  useEffect(() => {
    // Follow changes made elsewhere (loading, the raw editor).
    if (JSON.stringify(parse(text)) !== JSON.stringify(isObj(value) ? value : undefined)) setText(show(obj));
  }, [JSON.stringify(value)]);
  const err = errorFor(ctx, path, true);
  return (
    <FieldShell id={id} label={humanize(props.name)} required={props.required} error={err} hint="One key=value per line.">
      <textarea id={id} rows={Math.max(2, Object.keys(obj).length + 1)} readOnly={ctx.readOnly} spellcheck={false} value={text}
        aria-describedby={describedBy(id, 'h', err)}
        onInput={(e) => {
          const t = (e.currentTarget as HTMLTextAreaElement).value;
          setText(t);
          onChange(parse(t));
        }} />
    </FieldShell>
  );
}

/** Anything else, as JSON of its own. */
function JsonField(props: FieldProps) {
  const { value, onChange, path, ctx } = props;
  const id = fieldId(path);
  const [text, setText] = useState(value === undefined ? '' : JSON.stringify(value, null, 2));
  const [bad, setBad] = useState<string | undefined>();
  useEffect(() => {
    // Follow changes made elsewhere (the raw editor) unless the box holds the same value.
    try {
      if (text.trim() === '' ? value !== undefined : JSON.stringify(JSON.parse(text)) !== JSON.stringify(value)) {
        setText(value === undefined ? '' : JSON.stringify(value, null, 2));
      }
    } catch {
      // the user is typing
    }
  }, [JSON.stringify(value)]);
  const err = bad ?? errorFor(ctx, path, true);
  return (
    <FieldShell id={id} label={humanize(props.name)} required={props.required} error={err} hint="JSON.">
      <textarea id={id} class="code" rows={3} readOnly={ctx.readOnly} spellcheck={false} value={text}
        aria-describedby={describedBy(id, 'h', err)}
        onInput={(e) => {
          const t = (e.currentTarget as HTMLTextAreaElement).value;
          setText(t);
          if (t.trim() === '') {
            setBad(undefined);
            onChange(undefined);
            return;
          }
          try {
            onChange(JSON.parse(t));
            setBad(undefined);
          } catch {
            setBad('Not valid JSON yet.');
          }
        }} />
    </FieldShell>
  );
}

const pluginNames: { list?: Promise<string[]> } = {};
const pluginSchemas = new Map<string, Promise<Schema | null>>();

export function loadPluginNames(): Promise<string[]> {
  pluginNames.list ??= api<string[]>('GET', 'plugins/list').then((r) => r.data, (e) => {
    pluginNames.list = undefined;
    throw e;
  });
  return pluginNames.list;
}

/** A plugin's schema (its consumer schema when asked); null when it has none of that kind. */
export function loadPluginSchema(name: string, consumer: boolean): Promise<Schema | null> {
  const k = `${name}|${consumer}`;
  let p = pluginSchemas.get(k);
  if (!p) {
    p = api<Schema>('GET', `plugins/${encodeURIComponent(name)}${consumer ? '?schema_type=consumer' : ''}`).then((r) => r.data, () => null);
    pluginSchemas.set(k, p);
  }
  return p;
}

function usePromise<T>(make: () => Promise<T>, deps: unknown[]): T | undefined {
  const [v, setV] = useState<T | undefined>(undefined);
  useEffect(() => {
    let live = true;
    make().then((x) => live && setV(() => x), () => undefined);
    return () => {
      live = false;
    };
  }, deps);
  return v;
}

function PluginForm(props: { name: string; value: Json; onChange: (v: Json) => void; onRemove: () => void; path: string[]; ctx: FormContext }) {
  const { name, value, onChange, path, ctx } = props;
  const schema = usePromise(() => loadPluginSchema(name, ctx.consumerPlugins), [name, ctx.consumerPlugins]);
  const err = errorFor(ctx, path);
  return (
    <fieldset class="plugin">
      <legend>{name}</legend>
      {err ? <p class="field-error" role="alert">{err}</p> : null}
      {schema === undefined ? <p class="hint">Loading the schema…</p> : schema === null ? (
        <p class="field-error">{ctx.consumerPlugins ? 'This plugin cannot be configured on a consumer.' : 'This plugin has no schema here.'}</p>
      ) : (
        <ObjectFields schema={schema} value={isObj(value) ? value : {}} onChange={onChange} path={path} ctx={ctx} />
      )}
      {ctx.readOnly ? null : <button type="button" class="secondary" onClick={props.onRemove}>Remove plugin {name}</button>}
    </fieldset>
  );
}

/** `plugins`: the enabled ones each with a form from the plugin's own schema, and a picker to add one. */
function PluginsField(props: { value: Json; onChange: (v: Json) => void; path: string[]; ctx: FormContext }) {
  const { value, onChange, path, ctx } = props;
  const plugins = isObj(value) ? value : {};
  const names = usePromise(loadPluginNames, []);
  const [pick, setPick] = useState('');
  const pickId = fieldId([...path, '_add']);
  const available = (names ?? []).filter((n) => !(n in plugins));
  return (
    <section class="plugins" aria-label="Plugins">
      <h3>Plugins</h3>
      {Object.keys(plugins).length === 0 ? <p class="hint">No plugins enabled.</p> : null}
      {Object.entries(plugins).map(([n, conf]) => (
        <PluginForm key={n} name={n} value={conf} path={[...path, n]} ctx={ctx}
          onChange={(v) => onChange({ ...plugins, [n]: v ?? {} })}
          onRemove={() => {
            const next = { ...plugins };
            delete next[n];
            onChange(Object.keys(next).length ? next : undefined);
          }} />
      ))}
      {ctx.readOnly ? null : (
        <div class="add-plugin">
          <label for={pickId}>Add plugin</label>
          <select id={pickId} value={pick} onChange={(e) => setPick((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">(choose a plugin)</option>
            {available.map((n) => <option value={n}>{n}</option>)}
          </select>
          <button type="button" class="secondary" disabled={pick === ''} onClick={() => {
            if (!pick) return;
            onChange({ ...plugins, [pick]: {} });
            setPick('');
          }}>Add</button>
        </div>
      )}
    </section>
  );
}
