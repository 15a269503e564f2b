import { validateResource } from '@portico/core';
import { JsonBody } from './body';
import { badRequest } from './errors';
import { isUnsafeIntegerId, sameId } from './ids';
import { Target, isKnownManager } from './resources';

/** A write that passed every check that needs no store: what to store, minus timestamps. */
export interface PreparedWrite {
  /** The item's key segment; undefined for POST (the id is generated at write time). */
  id?: string;
  value: Record<string, unknown>;
}

/** APISIX sets these itself; a client sending them is told so (two spaces, as APISIX). */
const FORBIDDEN_FIELDS = ['create_time', 'update_time'];

const INVALID_ID = 'invalid configuration: property "id" validation failed: object matches none of the required';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Everything about a PUT/POST body that can be decided without the store, in APISIX's order:
 * missing body, id rules (SPEC §3.2), forbidden timestamps, schema (core's validateResource,
 * whose message is the whole `error_msg`), then rules the schema cannot express.
 */
export function prepareWrite(t: Target, body: JsonBody, verb: 'PUT' | 'POST'): PreparedWrite {
  if (!body.present) throw badRequest('missing configurations');
  // The manager is part of the key: without it there is no item to talk about.
  if (t.def.name === 'secrets' && t.manager === undefined) throw badRequest('missing secret manager');
  const conf = body.value;
  const { kind } = t.def;
  let value: unknown = conf;
  let id: string | undefined;

  if (isPlainObject(conf)) {
    if (t.def.identity === 'id') {
      if (verb === 'POST') {
        if (t.id !== undefined || conf.id !== undefined) throw badRequest(`wrong ${kind} id, do not need it`);
      } else {
        if (t.id === undefined && conf.id === undefined) throw badRequest(`missing ${kind} id`);
        // APISIX stores a secret's id as `<manager>/<id>`; a body echoing that form is the same item.
        const aliases = t.def.name === 'secrets' && t.id !== undefined ? [`${t.manager}/${t.id}`] : [];
        if (t.id !== undefined && conf.id !== undefined && !sameId(conf.id, t.id, aliases)) {
          throw badRequest(`wrong ${kind} id`);
        }
        // The path id wins (it is what the key is built from), as in APISIX.
        value = { ...conf, id: t.id ?? conf.id };
      }
    }
    for (const field of FORBIDDEN_FIELDS) {
      if (field in conf) throw badRequest(`the property is forbidden:  ${field}`);
    }
  }

  if (t.def.name === 'secrets' && !isKnownManager(t.manager)) {
    throw badRequest(`invalid configuration: unsupported secret manager ${t.manager}`);
  }
  if (isPlainObject(value) && isUnsafeIntegerId(value.id)) throw badRequest(INVALID_ID);

  const result = validateResource(t.def.schema, value, t.manager);
  if (!result.ok) throw badRequest(result.message);
  if (!isPlainObject(value)) throw badRequest('invalid configuration: wrong type: expected object'); // unreachable: every schema wants an object

  if (t.def.identity === 'username') {
    if (t.id !== undefined && t.id !== value.username) throw badRequest('wrong username');
    id = value.username as string;
  } else if (value.id !== undefined) {
    id = String(value.id);
  }

  const rule = semanticError(t, value);
  if (rule) throw badRequest(rule);
  return { id, value };
}

/**
 * Rules APISIX checks in its admin code rather than its schemas. `chash` needs a `key` to hash
 * on, unless it hashes on the consumer (APISIX `check_upstream_conf`).
 * TODO(core): move into validateResource so the data plane applies the same rule on load.
 */
function semanticError(t: Target, value: Record<string, unknown>): string | undefined {
  const upstream = t.def.name === 'upstreams' ? value : t.def.name === 'routes' ? value.upstream : undefined;
  if (isPlainObject(upstream) && upstream.type === 'chash' && upstream.hash_on !== 'consumer' && upstream.key === undefined) {
    return 'missing key';
  }
  return undefined;
}
