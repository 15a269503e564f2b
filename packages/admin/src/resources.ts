import { ResourceName, SECRET_MANAGER_SCHEMAS, ValidatedKind, collectionKey, resourceKey } from '@portico/core';
import { AdminError } from './errors';
import { isValidId, isValidUsername } from './ids';

export type Verb = 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

/** A field that must name an existing resource when written (SPEC §3.3 referential checks). */
export interface Reference {
  field: string;
  resource: ResourceName;
  /** Word in `failed to fetch <label> info by <label> id [X], response code: 404`. */
  label: string;
}

/** Resources whose items point at this one; deleting it is refused while they do (SPEC §3.5). */
export interface DeleteGuard {
  resource: ResourceName;
  field: string;
  /** Word in `can not delete this upstream, <label> [1] is still using it now`. */
  label: string;
}

/**
 * One admin resource: everything the generic handlers need to know about it. A new resource
 * is a new row here plus its schema in core (RESOURCE_KINDS names which one).
 */
export interface ResourceDef {
  /** URL segment under /apisix/admin, also the store segment. */
  name: ResourceName;
  /** Word used in messages: `missing route id`, ``not supported `POST` method for consumer``. */
  kind: string;
  schema: ValidatedKind;
  verbs: ReadonlySet<Verb>;
  /**
   * What the key segment is: an `id`, a consumer's `username` (consumers carry no id), or a
   * plugin name (plugin_metadata, whose id is the plugin it configures).
   */
  identity: 'id' | 'username' | 'plugin';
  references: readonly Reference[];
  deleteGuards: readonly DeleteGuard[];
  /** Subject of the guard message, when not `kind`: `can not delete this service directly, ...`. */
  guardSubject?: string;
  /** Delete the children (a consumer's credentials) in the same transaction. */
  deleteWithChildren?: boolean;
  /** Fields never sent back in any reply (an ssl's private keys, SPEC §3.1). */
  hiddenFields?: readonly string[];
}

const verbs = (...v: Verb[]): ReadonlySet<Verb> => new Set(v);
const ALL: ReadonlySet<Verb> = verbs('GET', 'PUT', 'POST', 'PATCH', 'DELETE');

const UPSTREAM_REF: Reference = { field: 'upstream_id', resource: 'upstreams', label: 'upstream' };

// SPEC §3.1's table, row by row.
const TABLE: Readonly<Record<ResourceName, ResourceDef>> = {
  routes: {
    name: 'routes', kind: 'route', schema: 'route', identity: 'id', verbs: ALL,
    references: [
      UPSTREAM_REF,
      { field: 'service_id', resource: 'services', label: 'service' },
      { field: 'plugin_config_id', resource: 'plugin_configs', label: 'plugin config' },
    ],
    deleteGuards: [],
  },
  services: {
    name: 'services', kind: 'service', schema: 'service', identity: 'id', verbs: ALL,
    references: [UPSTREAM_REF],
    deleteGuards: [{ resource: 'routes', field: 'service_id', label: 'route' }],
    guardSubject: 'service directly',
  },
  upstreams: {
    name: 'upstreams', kind: 'upstream', schema: 'upstream', identity: 'id', verbs: ALL,
    references: [],
    deleteGuards: [
      { resource: 'routes', field: 'upstream_id', label: 'route' },
      { resource: 'services', field: 'upstream_id', label: 'service' },
    ],
  },
  consumers: {
    name: 'consumers', kind: 'consumer', schema: 'consumer', identity: 'username',
    verbs: verbs('GET', 'PUT', 'DELETE'),
    references: [{ field: 'group_id', resource: 'consumer_groups', label: 'consumer group' }],
    deleteGuards: [],
    deleteWithChildren: true,
  },
  credentials: {
    name: 'credentials', kind: 'credential', schema: 'credential', identity: 'id',
    verbs: verbs('GET', 'PUT', 'DELETE'),
    references: [],
    deleteGuards: [],
  },
  secrets: {
    name: 'secrets', kind: 'secret', schema: 'secret', identity: 'id',
    verbs: verbs('GET', 'PUT', 'PATCH', 'DELETE'),
    references: [],
    deleteGuards: [],
  },
  ssls: {
    name: 'ssls', kind: 'ssl', schema: 'ssl', identity: 'id', verbs: ALL,
    references: [],
    deleteGuards: [],
    hiddenFields: ['key', 'keys'],
  },
  global_rules: {
    name: 'global_rules', kind: 'global rule', schema: 'global_rule', identity: 'id',
    verbs: verbs('GET', 'PUT', 'PATCH', 'DELETE'),
    references: [],
    deleteGuards: [],
  },
  plugin_configs: {
    name: 'plugin_configs', kind: 'plugin config', schema: 'plugin_config', identity: 'id',
    verbs: verbs('GET', 'PUT', 'PATCH', 'DELETE'),
    references: [],
    deleteGuards: [{ resource: 'routes', field: 'plugin_config_id', label: 'route' }],
  },
  consumer_groups: {
    name: 'consumer_groups', kind: 'consumer group', schema: 'consumer_group', identity: 'id',
    verbs: verbs('GET', 'PUT', 'PATCH', 'DELETE'),
    references: [],
    deleteGuards: [{ resource: 'consumers', field: 'group_id', label: 'consumer' }],
  },
  plugin_metadata: {
    name: 'plugin_metadata', kind: 'plugin_metadata', schema: 'plugin_metadata', identity: 'plugin',
    verbs: verbs('GET', 'PUT', 'DELETE'),
    references: [],
    deleteGuards: [],
  },
};

/** Lookup by URL segment; a Map so that `__proto__` or `constructor` can never be a resource. */
const BY_NAME: ReadonlyMap<string, ResourceDef> = new Map(Object.values(TABLE).map((d) => [d.name, d]));
const CREDENTIALS = TABLE.credentials;

/** The resources the admin API serves, in SPEC §3.1's order. */
export const ADMIN_RESOURCES: readonly ResourceDef[] = [...BY_NAME.values()];

export function resourceDef(name: ResourceName): ResourceDef {
  return TABLE[name];
}

/**
 * What an admin URL designates. `id` is the decoded path id (absent for the collection);
 * `consumer`/`manager` scope credentials and secrets. `extra` holds path segments beyond the
 * resource's layout: a PATCH sub-path, and for any other verb a path that names nothing.
 */
export interface Target {
  def: ResourceDef;
  id?: string;
  consumer?: string;
  manager?: string;
  extra: string[];
}

/** Decodes one path segment; undefined when the escapes are malformed (`%E0%A4%A`). */
export function decodeSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * Maps the path after `/apisix/admin/` to a Target. The raw path is split on `/` before
 * decoding, so an encoded slash (`a%2Fb`) stays inside one segment and can never reach another
 * key; such a segment then fails the id rules. Throws 404 `Unsupported resource type` for
 * anything the table does not hold.
 */
export function parseTarget(rawPath: string): Target {
  const raw = rawPath.split('/');
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop(); // a trailing slash names the same thing
  // An undecodable segment keeps its raw text: it fails every id rule, which is the point.
  const segs = raw.map((s) => decodeSegment(s) ?? s);
  const def = BY_NAME.get(segs[0]);
  // `credentials` only exists under a consumer; /apisix/admin/credentials is not a resource.
  if (!def || def === CREDENTIALS) {
    throw new AdminError(404, { error_msg: `Unsupported resource type: ${segs[0]}` });
  }
  if (def.name === 'consumers' && segs[2] === 'credentials') {
    return { def: CREDENTIALS, consumer: segs[1], id: segs[3], extra: segs.slice(4) };
  }
  if (def.name === 'secrets') {
    return { def, manager: segs[1], id: segs[2], extra: segs.slice(3) };
  }
  return { def, id: segs[1], extra: segs.slice(2) };
}

/**
 * True when every path part could belong to a stored key. A path that fails this designates
 * nothing: reads and deletes answer 404 without asking the store, and no key is ever built
 * from it.
 */
export function pathIsPlausible(t: Target): boolean {
  if (t.extra.length > 0) return false;
  if (t.def.name === 'credentials' && !isValidUsername(t.consumer)) return false;
  if (t.def.name === 'secrets' && t.manager !== undefined && !isKnownManager(t.manager)) return false;
  if (t.id === undefined) return true;
  return t.def.identity === 'username' ? isValidUsername(t.id) : isValidId(t.id);
}

/** The target without its PATCH sub-path: the item the sub-path lies in. */
export function itemOf(t: Target): Target {
  return t.extra.length === 0 ? t : { ...t, extra: [] };
}

export function isKnownManager(manager: string | undefined): boolean {
  return manager !== undefined && Object.hasOwn(SECRET_MANAGER_SCHEMAS, manager);
}

/** What selects the schema within a kind: the secret manager, or the plugin of plugin_metadata. */
export function schemaScope(t: Target, id?: string): string | undefined {
  if (t.def.name === 'secrets') return t.manager;
  if (t.def.identity === 'plugin') return id ?? t.id;
  return undefined;
}

/** Store key of one item of the target's collection. */
export function itemKey(prefix: string, t: Target, id: string): string {
  return resourceKey(prefix, { resource: t.def.name, id, consumer: t.consumer, manager: t.manager });
}

/**
 * Prefix to range for the target's collection, with the trailing slash so `/routes/` never
 * matches a sibling like `/routes_x`. `/secrets` without a manager lists every manager.
 */
export function listPrefix(prefix: string, t: Target): string {
  return `${collectionKey(prefix, t.def.name, { consumer: t.consumer, manager: t.manager })}/`;
}
