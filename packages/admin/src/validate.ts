import { isPlainObject, validateResource } from '@portico/core';
import { JsonBody } from './body';
import { badRequest } from './errors';
import { isUnsafeIntegerId, sameId } from './ids';
import { Target, isKnownManager, schemaScope } from './resources';

/** A write that passed every check that needs no store: what to store, minus timestamps. */
export interface PreparedWrite {
  /** The item's key segment; undefined for POST (the id is generated at write time). */
  id?: string;
  value: Record<string, unknown>;
}

/** APISIX sets these itself; a client sending them is told so (two spaces, as APISIX). */
const FORBIDDEN_FIELDS = ['create_time', 'update_time'];

const INVALID_ID = 'invalid configuration: property "id" validation failed: object matches none of the required';

/** `missing <kind> id`; plugin metadata is named by its plugin. */
export function missingId(t: Target): string {
  return t.def.identity === 'plugin' ? 'missing plugin name' : `missing ${t.def.kind} id`;
}

/** APISIX stores a secret's id as `<manager>/<id>`; a body echoing that form names the same item. */
function idAliases(t: Target): string[] {
  return t.def.name === 'secrets' && t.id !== undefined ? [`${t.manager}/${t.id}`] : [];
}

/**
 * A secret manager is stored as APISIX stores it: `id: "aws/1"` under `/secrets/aws/1`.
 * `id` is the key segment (path id, or a body id in either form); returns the value to
 * validate with its id in the stored form, and the key segment. An id that is not a scalar
 * is left for the schema to refuse.
 */
function withStoredSecretId(t: Target, value: Record<string, unknown>, id: unknown): { value: Record<string, unknown>; keyId?: string } {
  // Not a valid id in either form: left as sent, for the schema to refuse with its message.
  if (typeof id !== 'string' && !(typeof id === 'number' && Number.isSafeInteger(id) && id >= 1)) return { value: { ...value, id } };
  const prefix = `${t.manager}/`;
  const s = String(id);
  const keyId = s.startsWith(prefix) ? s.slice(prefix.length) : s;
  return { value: { ...value, id: prefix + keyId }, keyId };
}

/** The manager is part of a secret's key: without a known one there is no item to talk about. */
function checkManager(t: Target): void {
  if (t.def.name !== 'secrets') return;
  if (t.manager === undefined) throw badRequest('missing secret manager');
  if (!isKnownManager(t.manager)) throw badRequest(`invalid configuration: unsupported secret manager ${t.manager}`);
}

/**
 * Everything about a PUT/POST body that can be decided without the store, in APISIX's order:
 * missing body, id rules (SPEC §3.2), forbidden timestamps, schema and field rules (core's
 * validateResource, whose message is the whole `error_msg`).
 */
export function prepareWrite(t: Target, body: JsonBody, verb: 'PUT' | 'POST'): PreparedWrite {
  if (!body.present) throw badRequest('missing configurations');
  if (t.def.name === 'secrets' && t.manager === undefined) throw badRequest('missing secret manager');
  const conf = body.value;
  const { kind } = t.def;
  let value: unknown = conf;

  if (isPlainObject(conf)) {
    if (t.def.identity !== 'username') {
      if (verb === 'POST') {
        if (t.id !== undefined || conf.id !== undefined) throw badRequest(`wrong ${kind} id, do not need it`);
      } else {
        if (t.id === undefined && conf.id === undefined) throw badRequest(missingId(t));
        if (t.id !== undefined && conf.id !== undefined && !sameId(conf.id, t.id, idAliases(t))) {
          throw badRequest(`wrong ${kind} id`);
        }
        // The path id wins (it is what the key is built from), as in APISIX.
        value = { ...conf, id: t.id ?? conf.id };
      }
    }
    for (const field of FORBIDDEN_FIELDS) {
      if (Object.hasOwn(conf, field)) throw badRequest(`the property is forbidden:  ${field}`);
    }
  }
  checkManager(t);
  if (t.def.name === 'secrets' && isPlainObject(value) && value.id !== undefined) {
    const secret = withStoredSecretId(t, value, value.id);
    return validated(t, secret.value, secret.keyId);
  }
  return validated(t, value);
}

/**
 * A PATCH result (SPEC §3.3), before it is written: the merged value must name the same item
 * and pass the same validation as a PUT. Timestamps are the server's: whatever the merge left
 * in them is dropped and set again on write. A merge that removed `id` gets it back from the path.
 */
export function preparePatched(t: Target, merged: Record<string, unknown>): PreparedWrite {
  const { create_time: _c, update_time: _u, ...value } = merged;
  if (t.def.identity !== 'username') {
    if (value.id !== undefined && !sameId(value.id, t.id!, idAliases(t))) throw badRequest(`wrong ${t.def.kind} id`);
    value.id ??= t.id;
  }
  checkManager(t);
  // A value stored with a plain id (older versions) is written back in APISIX's form.
  if (t.def.name === 'secrets') return validated(t, withStoredSecretId(t, value, t.id).value, t.id);
  return validated(t, value);
}

/**
 * Schema, field rules and plugins (core), then the item's key segment: `keyId` when the
 * stored id is not the key segment itself (secrets), else the value's id.
 */
function validated(t: Target, value: unknown, keyId?: string): PreparedWrite {
  if (isPlainObject(value) && isUnsafeIntegerId(value.id)) throw badRequest(INVALID_ID);
  const id = keyId ?? (isPlainObject(value) && value.id !== undefined ? String(value.id) : undefined);
  const result = validateResource(t.def.schema, value, schemaScope(t, id));
  if (!result.ok) throw badRequest(result.message);
  if (!isPlainObject(value)) throw badRequest('invalid configuration: wrong type: expected object'); // unreachable: every schema wants an object
  if (t.def.identity === 'username') {
    if (t.id !== undefined && t.id !== value.username) throw badRequest('wrong username');
    return { id: value.username as string, value };
  }
  return { id, value };
}
