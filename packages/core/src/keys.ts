/**
 * The etcd key layout (SPEC §2), in one place. Every key is `<prefix>/<resource>/<id>`, except
 * credentials (`/consumers/<u>/credentials/<id>`) and secrets (`/secrets/<manager>/<id>`).
 */

export const RESOURCES = ['routes', 'services', 'upstreams', 'consumers', 'credentials', 'secrets', 'ssls',
  'global_rules', 'plugin_configs', 'consumer_groups', 'plugin_metadata'] as const;
export type ResourceName = (typeof RESOURCES)[number];

export interface ResourceRef {
  resource: ResourceName;
  id: string;
  /** Owning consumer, for credentials. */
  consumer?: string;
  /** Secret manager (aws, vault, gcp), for secrets. */
  manager?: string;
}

export function normalizePrefix(prefix: string): string {
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

export function collectionKey(prefix: string, resource: ResourceName, parent?: { consumer?: string; manager?: string }): string {
  const p = normalizePrefix(prefix);
  if (resource === 'credentials') return `${p}/consumers/${parent?.consumer}/credentials`;
  if (resource === 'secrets' && parent?.manager) return `${p}/secrets/${parent.manager}`;
  return `${p}/${resource}`;
}

export function resourceKey(prefix: string, ref: ResourceRef): string {
  return `${collectionKey(prefix, ref.resource, ref)}/${ref.id}`;
}

/** Maps a store key back to the resource it holds; undefined for keys outside the layout. */
export function parseResourceKey(prefix: string, key: string): ResourceRef | undefined {
  const p = normalizePrefix(prefix) + '/';
  if (!key.startsWith(p)) return undefined;
  const parts = key.slice(p.length).split('/');
  if (parts.some((s) => s === '')) return undefined;
  const [resource] = parts;
  if (resource === 'consumers') {
    if (parts.length === 2) return { resource: 'consumers', id: parts[1] };
    if (parts.length === 4 && parts[2] === 'credentials') return { resource: 'credentials', consumer: parts[1], id: parts[3] };
    return undefined;
  }
  if (resource === 'secrets') {
    return parts.length === 3 ? { resource: 'secrets', manager: parts[1], id: parts[2] } : undefined;
  }
  if (parts.length !== 2 || !(RESOURCES as readonly string[]).includes(resource)) return undefined;
  return { resource: resource as ResourceName, id: parts[1] };
}

/** Key of a data-plane node's heartbeat (SPEC §10). */
export function nodeKey(prefix: string, nodeId: string): string {
  return `${normalizePrefix(prefix)}/data_plane/nodes/${nodeId}`;
}
