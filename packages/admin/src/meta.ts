import { PLUGIN_DEFINITIONS, PluginDefinition, ValidatedKind, schemaFor, validateResource } from '@portico/core';
import { JsonBody } from './body';
import { AdminError, badRequest, methodNotSupported } from './errors';
import type { Reply } from './handlers';
import { openApiDocument } from './openapi';
import { ADMIN_RESOURCES, ResourceDef } from './resources';

/**
 * The endpoints about the API rather than in it (SPEC §3.1 "Also"): plugin names and schemas,
 * resource schemas, schema validation without writing, and the OpenAPI document. Everything
 * they serve comes from core's schema objects — the ones the validator compiles.
 */

/** First path segments under /apisix/admin that are served here, not by the resource table. */
export const META_ROOTS: ReadonlySet<string> = new Set(['plugins', 'schema', 'openapi.json']);

const NOT_FOUND = new AdminError(404, { error_msg: '404 Route Not Found' });

type Query = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Resources by plural (URL) or singular (schema kind) name: `routes` and `route` alike. */
const BY_ANY_NAME: ReadonlyMap<string, ResourceDef> = new Map(
  ADMIN_RESOURCES.flatMap((d) => [[d.name, d], [d.schema, d]] as Array<[string, ResourceDef]>),
);

function pluginNames(): string[] {
  return Object.keys(PLUGIN_DEFINITIONS).sort();
}

function pluginAttributes(p: PluginDefinition) {
  return { priority: p.priority, type: p.type, schema: p.schema, consumer_schema: p.consumerSchema, metadata_schema: p.metadataSchema };
}

/**
 * `segs` is the decoded path after /apisix/admin/, whose first segment is in META_ROOTS.
 * `readBody` is called only by the endpoint that takes one.
 */
export async function dispatchMeta(segs: string[], method: string, query: Query, readBody: () => Promise<JsonBody>): Promise<Reply> {
  const [root, ...rest] = segs;
  if (root === 'schema' && rest[0] === 'validate') {
    if (method !== 'POST') throw methodNotSupported(method, 'schema validation');
    return validate(rest.slice(1), await readBody());
  }
  if (method !== 'GET') throw methodNotSupported(method, root === 'openapi.json' ? 'openapi' : root);
  if (root === 'openapi.json') {
    if (rest.length > 0) throw NOT_FOUND;
    return { status: 200, body: openApiDocument() };
  }
  if (root === 'plugins') return plugins(rest, query);
  return schema(rest);
}

/**
 * `plugins/list` (names), `plugins/{name}` (schema; `?schema_type=consumer|metadata` for the
 * others), and `plugins` (every plugin with its attributes, APISIX's `?all=true`). Portico
 * has one subsystem; `?subsystem=stream` lists nothing.
 */
function plugins(rest: string[], query: Query): Reply {
  const subsystem = first(query.subsystem) ?? 'http';
  if (subsystem !== 'http' && subsystem !== 'stream') throw badRequest(`unsupported subsystem: ${subsystem}`);
  const defs = subsystem === 'http' ? PLUGIN_DEFINITIONS : {};
  if (rest.length === 0) {
    return { status: 200, body: Object.fromEntries(Object.entries(defs).map(([n, p]) => [n, pluginAttributes(p)])) };
  }
  if (rest.length > 1) throw NOT_FOUND;
  if (rest[0] === 'list') return { status: 200, body: subsystem === 'http' ? pluginNames() : [] };
  const plugin = Object.hasOwn(defs, rest[0]) ? defs[rest[0]] : undefined;
  if (!plugin) throw new AdminError(404, { error_msg: `plugin not found in subsystem ${subsystem}` });
  const type = first(query.schema_type);
  const json = type === 'consumer' ? plugin.consumerSchema : type === 'metadata' ? plugin.metadataSchema : plugin.schema;
  if (!json) throw badRequest('not found schema');
  return { status: 200, body: json };
}

/** `schema/{resource}` and, for kinds with several schemas, `schema/secrets/{manager}`, `schema/plugin_metadata/{plugin}`. */
function schema(rest: string[]): Reply {
  const name = rest.join('/');
  const def = BY_ANY_NAME.get(rest[0] ?? '');
  const json = def && rest.length <= 2 ? schemaFor(def.schema as ValidatedKind, rest[1]) : undefined;
  // A scope on a kind that has a single schema names nothing.
  if (!json || (rest.length === 2 && def!.schema !== 'secret' && def!.schema !== 'plugin_metadata')) {
    throw badRequest(`not found schema: ${name}`);
  }
  return { status: 200, body: json };
}

/**
 * `POST schema/validate/{resource}[/{scope}]`: the checks a write makes that need no store —
 * schema, field rules, plugin configurations. 200 with an empty body, or 400 with the reason
 * (without the `invalid configuration: ` a write's error carries, as APISIX).
 */
function validate(rest: string[], body: JsonBody): Reply {
  const def = BY_ANY_NAME.get(rest[0] ?? '');
  if (!def || rest.length > 2) throw new AdminError(404, { error_msg: `Unsupported resource type: ${rest.join('/')}` });
  if (def.schema === 'secret' && rest[1] === undefined) throw badRequest('missing secret manager');
  if (def.schema === 'plugin_metadata' && rest[1] === undefined) throw badRequest('missing plugin name');
  if (!body.present) throw badRequest('missing configurations');
  const r = validateResource(def.schema, body.value, rest[1]);
  if (!r.ok) throw badRequest(r.message.replace(/^invalid configuration: /, ''));
  return { status: 200, body: '' };
}
