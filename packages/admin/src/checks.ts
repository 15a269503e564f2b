import { ConfigStore, collectionKey, isPlainObject, parseResourceKey, resourceKey } from '@portico/core';
import { isSecretRef } from '@portico/secrets';
import { AdminError, badRequest } from './errors';
import { isValidId, isValidUsername } from './ids';
import { ResourceDef } from './resources';
import { StoredValues, parseStored } from './stored-values';

/**
 * Checks that read the store (SPEC §3.3, §3.5). They run after every store-free check has
 * passed, and they are advisory reads, not locks: two concurrent writes can both pass them,
 * as in APISIX.
 */

/**
 * A credential belongs to a consumer that must already exist. The name comes from the path and
 * is checked first: `a%2Fcredentials%2Fb` must not find the credential `b` of `a` and nest a new
 * key under it.
 */
export async function ensureConsumerExists(store: ConfigStore, prefix: string, username: string | undefined): Promise<void> {
  const kv = isValidUsername(username) ? await store.get(resourceKey(prefix, { resource: 'consumers', id: username })) : undefined;
  if (!kv) throw new AdminError(404, { error_msg: 'consumer not found' });
}

/** `upstream_id`, `service_id`, ... must name existing items. */
export async function checkReferences(store: ConfigStore, prefix: string, def: ResourceDef, value: Record<string, unknown>): Promise<void> {
  for (const ref of def.references) {
    const target = value[ref.field];
    if (target === undefined) continue;
    const id = String(target);
    // The schema already limits ids to key-safe text; this keeps a key from ever being built otherwise.
    const kv = isValidId(id) ? await store.get(resourceKey(prefix, { resource: ref.resource, id })) : undefined;
    if (!kv) {
      throw badRequest(`failed to fetch ${ref.label} info by ${ref.label} id [${id}], response code: 404`);
    }
  }
}

/** Auth plugins whose consumer-side field must be unique across consumers and credentials. */
const UNIQUE_AUTH_FIELDS: Readonly<Record<string, string>> = { 'key-auth': 'key', 'basic-auth': 'username', 'jwt-auth': 'key' };

/**
 * The plain value of an auth field. A reference is resolved per node at request time; two
 * equal references are not two equal keys, so they are never compared (SPEC §3.3).
 */
function authValue(value: unknown, plugin: string, field: string): string | undefined {
  if (!isPlainObject(value) || !isPlainObject(value.plugins)) return undefined;
  const conf = value.plugins[plugin];
  if (!isPlainObject(conf)) return undefined;
  const v = conf[field];
  return typeof v === 'string' && !isSecretRef(v) ? v : undefined;
}

/**
 * SPEC §3.3: a plain key-auth key may belong to one consumer or credential only, otherwise a
 * request carrying it could authenticate as either. `selfKey` (the item being replaced) is
 * skipped. One range of `/consumers/` covers consumers and credentials alike; stored keys are
 * compared decrypted, since each encryption of one key gives a different ciphertext.
 */
export async function checkDuplicateAuthKeys(store: ConfigStore, prefix: string, values: StoredValues, selfKey: string, value: Record<string, unknown>): Promise<void> {
  const wanted = Object.entries(UNIQUE_AUTH_FIELDS)
    .map(([plugin, field]) => ({ plugin, field, v: authValue(value, plugin, field) }))
    .filter((w) => w.v !== undefined);
  if (wanted.length === 0) return;
  const { items } = await store.range(`${collectionKey(prefix, 'consumers')}/`);
  for (const kv of items) {
    if (kv.key === selfKey) continue;
    const ref = parseResourceKey(prefix, kv.key);
    if (!ref || (ref.resource !== 'consumers' && ref.resource !== 'credentials')) continue;
    const other = values.plaintext(ref.resource, kv);
    for (const w of wanted) {
      if (authValue(other, w.plugin, w.field) !== w.v) continue;
      const owner = ref.resource === 'consumers' ? `consumer: ${ref.id}` : `credential: ${ref.id} of consumer: ${ref.consumer}`;
      throw badRequest(`duplicate key of plugin ${w.plugin} found with ${owner}`);
    }
  }
}

/** SPEC §3.5: refuse to delete what other items still point at (unless `?force=true`). */
export async function checkDeleteGuards(store: ConfigStore, prefix: string, def: ResourceDef, id: string): Promise<void> {
  for (const guard of def.deleteGuards) {
    const { items } = await store.range(`${collectionKey(prefix, guard.resource)}/`);
    for (const kv of items) {
      const ref = parseResourceKey(prefix, kv.key);
      if (!ref || ref.resource !== guard.resource) continue;
      const other = parseStored(kv);
      if (isPlainObject(other) && other[guard.field] !== undefined && String(other[guard.field]) === id) {
        throw badRequest(`can not delete this ${def.guardSubject ?? def.kind}, ${guard.label} [${ref.id}] is still using it now`);
      }
    }
  }
}
