/**
 * The resource kinds the dashboard manages, as the Admin API lays them out. Forms come from
 * the API's own schemas; this table only says where each kind lives and what a list shows.
 */

export type Filter = 'name' | 'label' | 'uri';

export interface Kind {
  /** URL segment under /apisix/admin and the page's route. */
  path: string;
  title: string;
  /** One item, in sentences ("route"). */
  noun: string;
  /** The field naming an item in its URL. */
  idField: 'id' | 'username';
  filters: Filter[];
  columns: Column[];
  /** Edits use PATCH where the API never returns some fields (private keys, secret values). */
  editWith: 'PUT' | 'PATCH';
  /** Creation without an id: POST lets the API pick one. */
  canPost: boolean;
  /** Secret managers and plugin metadata pick their schema by a scope. */
  scope?: 'manager' | 'plugin';
  /** Fields never shown (the API hides them already; the dashboard does not ask for them back). */
  hidden?: string[];
  /** Fields shown masked and sent only when typed in. */
  secretFields?: RegExp;
  /** Plugin schemas of consumers and credentials are the plugins' consumer schemas. */
  consumerPlugins?: boolean;
}

export interface Column {
  label: string;
  value: (v: Record<string, unknown>, key: string) => string;
}

const str = (x: unknown): string => (x === undefined || x === null ? '' : typeof x === 'string' ? x : JSON.stringify(x));
const pluginsOf = (v: Record<string, unknown>) => Object.keys((v.plugins as object | undefined) ?? {}).join(', ');
const idCol: Column = { label: 'ID', value: (v) => str(v.id) };
const nameCol: Column = { label: 'Name', value: (v) => str(v.name ?? v.desc) };
const pluginsCol: Column = { label: 'Plugins', value: pluginsOf };

function nodesSummary(nodes: unknown): string {
  if (Array.isArray(nodes)) return nodes.map((n: { host?: string; port?: number }) => `${n.host}:${n.port}`).join(', ');
  if (nodes && typeof nodes === 'object') return Object.keys(nodes).join(', ');
  return '';
}

export const KINDS: Kind[] = [
  {
    path: 'routes', title: 'Routes', noun: 'route', idField: 'id', filters: ['name', 'label', 'uri'], editWith: 'PUT', canPost: true,
    columns: [idCol, nameCol,
      { label: 'URI', value: (v) => str(v.uri ?? (v.uris as string[] | undefined)?.join(', ')) },
      { label: 'Methods', value: (v) => ((v.methods as string[] | undefined) ?? ['any']).join(', ') },
      { label: 'Upstream', value: (v) => str(v.upstream_id ?? (v.service_id !== undefined ? `service ${str(v.service_id)}` : v.upstream ? nodesSummary((v.upstream as Record<string, unknown>).nodes) : '')) },
      pluginsCol],
  },
  {
    path: 'services', title: 'Services', noun: 'service', idField: 'id', filters: ['name', 'label'], editWith: 'PUT', canPost: true,
    columns: [idCol, nameCol, { label: 'Upstream', value: (v) => str(v.upstream_id) }, pluginsCol],
  },
  {
    path: 'upstreams', title: 'Upstreams', noun: 'upstream', idField: 'id', filters: ['name', 'label'], editWith: 'PUT', canPost: true,
    columns: [idCol, nameCol, { label: 'Type', value: (v) => str(v.type ?? 'roundrobin') }, { label: 'Nodes', value: (v) => nodesSummary(v.nodes) }],
  },
  {
    path: 'consumers', title: 'Consumers', noun: 'consumer', idField: 'username', filters: ['label'], editWith: 'PUT', canPost: false, consumerPlugins: true,
    columns: [{ label: 'Username', value: (v) => str(v.username) }, { label: 'Description', value: (v) => str(v.desc) },
      { label: 'Group', value: (v) => str(v.group_id) }, pluginsCol],
  },
  {
    path: 'consumer_groups', title: 'Consumer groups', noun: 'consumer group', idField: 'id', filters: ['name', 'label'], editWith: 'PUT', canPost: false,
    columns: [idCol, nameCol, pluginsCol],
  },
  {
    path: 'plugin_configs', title: 'Plugin configs', noun: 'plugin config', idField: 'id', filters: ['name', 'label'], editWith: 'PUT', canPost: false,
    columns: [idCol, nameCol, pluginsCol],
  },
  {
    path: 'global_rules', title: 'Global rules', noun: 'global rule', idField: 'id', filters: [], editWith: 'PUT', canPost: false,
    columns: [idCol, pluginsCol],
  },
  {
    path: 'ssls', title: 'SSL certificates', noun: 'certificate', idField: 'id', filters: ['label'], editWith: 'PATCH', canPost: true,
    hidden: ['key', 'keys'],
    columns: [idCol, { label: 'SNIs', value: (v) => str(v.sni ?? (v.snis as string[] | undefined)?.join(', ')) }, { label: 'Type', value: (v) => str(v.type ?? 'server') },
      { label: 'Valid until', value: (v) => (typeof v.validity_end === 'number' ? new Date(v.validity_end * 1000).toISOString().slice(0, 10) : '') }],
  },
  {
    path: 'secrets', title: 'Secret managers', noun: 'secret manager', idField: 'id', filters: [], editWith: 'PATCH', canPost: false, scope: 'manager',
    secretFields: /secret|token|password|private_key|credentials/i,
    columns: [{ label: 'Manager / ID', value: (_v, key) => key.split('/secrets/')[1] ?? key }, { label: 'Endpoint', value: (v) => str(v.uri ?? v.endpoint_url ?? v.region) }],
  },
  {
    path: 'plugin_metadata', title: 'Plugin metadata', noun: 'plugin metadata', idField: 'id', filters: [], editWith: 'PUT', canPost: false, scope: 'plugin',
    columns: [{ label: 'Plugin', value: (_v, key) => key.split('/').pop() ?? '' }, { label: 'Settings', value: (v) => Object.keys(v).filter((k) => k !== 'id').join(', ') }],
  },
];

export const SECRET_MANAGERS = ['aws', 'gcp', 'vault'];

export function kindByPath(path: string): Kind | undefined {
  return KINDS.find((k) => k.path === path);
}

/** The item's address below its collection: `1`, `alice`, `aws/prod`. */
export function itemIdOf(kind: Kind, key: string, value: Record<string, unknown>): string {
  if (kind.scope === 'manager') return key.split('/secrets/')[1] ?? String(value.id);
  if (kind.scope === 'plugin') return key.split('/').pop() ?? String(value.id);
  return String(value[kind.idField] ?? key.split('/').pop());
}
