import { PLUGIN_DEFINITIONS, SECRET_MANAGER_SCHEMAS, ValidatedKind, schemaFor } from '@portico/core';
import { ADMIN_RESOURCES, ResourceDef, Verb } from './resources';

/**
 * `GET /apisix/admin/openapi.json` (Portico adds): an OpenAPI 3.1 description of the admin
 * API, built from the resource table (which verbs exist where) and core's schema objects —
 * the very objects the validator compiles, under JSON Schema 2020-12, OpenAPI 3.1's dialect.
 * Nothing here restates a schema, so the document cannot drift from what is enforced.
 */

const BASE = '/apisix/admin';
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });

/** Component name of the schema a resource (with an optional scope) is validated against. */
export function componentName(kind: ValidatedKind, scope?: string): string {
  return scope === undefined ? kind : `${kind}.${scope}`;
}

const ID_PARAM_SCHEMA = { type: 'string', pattern: '^[a-zA-Z0-9-_.]{1,64}$' };
const USERNAME_PARAM_SCHEMA = { type: 'string', pattern: '^[a-zA-Z0-9_\\-]{1,256}$' };

function pathParam(name: string, schema: object, description?: string) {
  return { name, in: 'path', required: true, schema, ...(description ? { description } : {}) };
}

const ERROR = { description: 'The request was refused; `error_msg` says why.', content: json(ref('Error')) };
const COMMON_ERRORS = {
  '401': { description: 'Missing or wrong admin key, or a viewer key on a write.', content: json(ref('AuthError')) },
  '403': { description: 'Client address outside `deployment.admin.allow_admin`.', content: json(ref('Error')) },
  '503': { description: 'The configuration store is unavailable, or a PATCH lost a race.', content: json(ref('Error')) },
};

function itemReply(valueSchema: object) {
  return { type: 'object', properties: { key: { type: 'string' }, value: valueSchema }, required: ['key', 'value'] };
}

/** The paths and operations of one resource (and scope: a secret manager, a plugin). */
function resourcePaths(def: ResourceDef, scope?: string): Record<string, object> {
  const schema = ref(componentName(def.schema, scope));
  const storedItem = { ...itemReply(schema), properties: { ...itemReply(schema).properties, createdIndex: { type: 'integer' }, modifiedIndex: { type: 'integer' } } };
  const has = (v: Verb) => def.verbs.has(v);
  const tag = def.name;
  let collection = `${BASE}/${def.name}`;
  const params: object[] = [];
  if (def.name === 'credentials') {
    collection = `${BASE}/consumers/{username}/credentials`;
    params.push(pathParam('username', USERNAME_PARAM_SCHEMA));
  } else if (def.name === 'secrets') {
    collection = `${BASE}/secrets/${scope}`;
  }
  const idName = def.identity === 'username' ? 'username' : 'id';
  const item = def.identity === 'plugin' ? `${BASE}/plugin_metadata/${scope}` : `${collection}/{${idName}}`;
  const itemParams = def.identity === 'plugin' ? params : [...params, pathParam(idName, def.identity === 'username' ? USERNAME_PARAM_SCHEMA : ID_PARAM_SCHEMA)];
  const op = (verb: string, summary: string, extra: object) => ({ tags: [tag], operationId: `${verb}_${def.name}${scope ? `_${scope.replace(/-/g, '_')}` : ''}`, summary, ...extra });
  const body = { required: true, content: json(schema) };
  const written = (status: string, description: string) => ({ [status]: { description, headers: { 'X-Config-Revision': { schema: { type: 'integer' }, description: 'Store revision of this write.' } }, content: json(itemReply(schema)) } });
  const paths: Record<string, Record<string, object>> = {};

  if (def.identity !== 'plugin') {
    const coll: Record<string, object> = {};
    if (params.length) coll.parameters = params;
    coll.get = op('list', `List ${def.kind} items`, {
      description: 'Ordered by createdIndex. `page` with `page_size` (10–500) pages the list; `name` and `uri` filter by regular expression, `label` by label key.',
      parameters: ['page', 'page_size'].map((n) => ({ name: n, in: 'query', schema: { type: 'integer' } }))
        .concat(['name', 'label', 'uri'].map((n) => ({ name: n, in: 'query', schema: { type: 'string' } }))),
      responses: {
        '200': { description: 'The items (`total` counts them after filtering, before paging).', content: json({ type: 'object', properties: { list: { type: 'array', items: storedItem }, total: { type: 'integer' } }, required: ['list', 'total'] }) },
        '400': { description: '`page_size must be between 10 and 500` (text/plain), or an invalid filter.', content: { 'text/plain': { schema: { type: 'string' } }, ...json(ref('Error')) } },
        ...COMMON_ERRORS,
      },
    });
    if (has('PUT') && def.identity === 'id') {
      coll.put = op('create_with_body_id', `Create or replace a ${def.kind} named by the body's id`, { requestBody: body, responses: { ...written('201', 'Created.'), ...written('200', 'Replaced.'), '400': ERROR, ...COMMON_ERRORS } });
    }
    if (has('PUT') && def.identity === 'username') {
      coll.put = op('create_with_body_username', 'Create or replace a consumer named by the body\'s username', { requestBody: body, responses: { ...written('201', 'Created.'), ...written('200', 'Replaced.'), '400': ERROR, ...COMMON_ERRORS } });
    }
    if (has('POST')) {
      coll.post = op('create', `Create a ${def.kind} with a generated 20-digit id`, { requestBody: body, responses: { ...written('201', 'Created.'), '400': ERROR, ...COMMON_ERRORS } });
    }
    paths[collection] = coll;
  }

  const one: Record<string, object> = {};
  if (itemParams.length) one.parameters = itemParams;
  one.get = op('get', `Get one ${def.kind}`, { responses: { '200': { description: 'The item.', content: json(storedItem) }, '404': { description: 'Key not found.', content: json(ref('NotFound')) }, ...COMMON_ERRORS } });
  if (has('PUT')) one.put = op('put', `Create or replace a ${def.kind}`, { requestBody: body, responses: { ...written('201', 'Created.'), ...written('200', 'Replaced.'), '400': ERROR, ...COMMON_ERRORS } });
  if (has('PATCH')) {
    one.patch = op('patch', `Merge-patch a ${def.kind}`, {
      description: 'JSON merge patch (`null` deletes a key, arrays replace). `PATCH …/{id}/a/b` sets field `a.b` to the raw JSON body instead. Written only if the item did not change meanwhile, else 503 `value changed before overwritten`.',
      requestBody: { required: true, content: json({ type: 'object' }) },
      responses: { ...written('200', 'Patched.'), '400': ERROR, '404': { description: 'Key not found.', content: json(ref('NotFound')) }, ...COMMON_ERRORS },
    });
  }
  if (has('DELETE')) {
    one.delete = op('delete', `Delete a ${def.kind}`, {
      ...(def.deleteGuards.length ? { parameters: [{ name: 'force', in: 'query', schema: { type: 'string', enum: ['true'] }, description: 'Delete even while other items refer to it.' }] } : {}),
      responses: {
        '200': { description: 'Deleted.', content: json({ type: 'object', properties: { deleted: { type: 'string' }, key: { type: 'string' } } }) },
        '400': ERROR, '404': { description: 'Key not found.', content: json(ref('NotFound')) }, ...COMMON_ERRORS,
      },
    });
  }
  paths[item] = one;
  return paths;
}

function metaPaths(): Record<string, object> {
  const get = (summary: string, params: object[], content: object) => ({ get: { tags: ['meta'], summary, ...(params.length ? { parameters: params } : {}), responses: { '200': { description: summary, content: json(content) }, ...COMMON_ERRORS } } });
  return {
    [`${BASE}/plugins/list`]: get('Names of the plugins this gateway knows', [], { type: 'array', items: { type: 'string' } }),
    [`${BASE}/plugins/{name}`]: get('JSON schema of a plugin', [pathParam('name', { type: 'string' }), { name: 'schema_type', in: 'query', schema: { enum: ['consumer', 'metadata'] } }], { type: 'object' }),
    [`${BASE}/schema/{resource}`]: get('JSON schema of a resource', [pathParam('resource', { type: 'string' })], { type: 'object' }),
    [`${BASE}/schema/validate/{resource}`]: {
      post: {
        tags: ['meta'], summary: 'Validate a resource value without writing it', parameters: [pathParam('resource', { type: 'string' })],
        requestBody: { required: true, content: json({ type: 'object' }) },
        responses: { '200': { description: 'Valid (empty body).' }, '400': ERROR, ...COMMON_ERRORS },
      },
    },
    [`${BASE}/openapi.json`]: get('This document', [], { type: 'object' }),
  };
}

function componentSchemas(): Record<string, object> {
  const out: Record<string, object> = {};
  for (const def of ADMIN_RESOURCES) {
    for (const scope of scopesOf(def)) out[componentName(def.schema, scope)] = schemaFor(def.schema, scope)!;
  }
  for (const [name, p] of Object.entries(PLUGIN_DEFINITIONS)) {
    out[`plugin.${name}`] = p.schema;
    if (p.consumerSchema) out[`plugin.${name}.consumer`] = p.consumerSchema;
  }
  out.Error = { type: 'object', properties: { error_msg: { type: 'string' } }, required: ['error_msg'] };
  out.AuthError = { type: 'object', properties: { error_msg: { const: 'failed to check token' }, description: { type: 'string' } }, required: ['error_msg', 'description'] };
  out.NotFound = { type: 'object', properties: { message: { const: 'Key not found' } }, required: ['message'] };
  return out;
}

/** The scopes a kind's schemas come in: secret managers, plugins with metadata, or just one. */
function scopesOf(def: ResourceDef): Array<string | undefined> {
  if (def.schema === 'secret') return Object.keys(SECRET_MANAGER_SCHEMAS);
  if (def.schema === 'plugin_metadata') return Object.keys(PLUGIN_DEFINITIONS);
  return [undefined];
}

let cached: object | undefined;

export function openApiDocument(): object {
  cached ??= {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Portico Admin API',
      version: 'v3',
      description: 'Apache APISIX 3.x compatible Admin API. Authenticate with header X-API-KEY (or query api_key). `create_time`/`update_time` are set by the server and refused in PUT/POST bodies.',
    },
    security: [{ apiKeyHeader: [] }, { apiKeyQuery: [] }],
    tags: [...ADMIN_RESOURCES.map((d) => ({ name: d.name })), { name: 'meta' }],
    paths: Object.assign({}, ...ADMIN_RESOURCES.flatMap((d) => scopesOf(d).map((s) => resourcePaths(d, s))), metaPaths()),
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-KEY' },
        apiKeyQuery: { type: 'apiKey', in: 'query', name: 'api_key' },
      },
    },
  };
  return cached;
}
