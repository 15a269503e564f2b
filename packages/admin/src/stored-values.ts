import { FieldCipher, FieldDecryptionError, KeyValue, Logger, MASKED_VALUE, ResourceName, decryptFields, encryptFields, isPlainObject, maskFields } from '@portico/core';
import { badRequest } from './errors';
import type { ResourceDef } from './resources';

/** Stored text as JSON, or undefined when someone wrote something else under the prefix. */
export function parseStored(kv: KeyValue): unknown {
  try {
    return JSON.parse(kv.value);
  } catch {
    return undefined;
  }
}

/**
 * The one place where resource values cross between their plaintext form (requests, replies,
 * checks) and their stored form (JSON text with sensitive fields encrypted, SPEC §5.6).
 * Without a cipher, values are stored as they are — and an encrypted value found in the store
 * is shown as stored, since there is no key to read it.
 */
export class StoredValues {
  constructor(private readonly cipher: FieldCipher | undefined, private readonly log: Logger) {}

  /** JSON text to write for a plaintext value. */
  encode(resource: ResourceName, value: Record<string, unknown>): string {
    return JSON.stringify(encryptFields(resource, value, this.cipher));
  }

  /**
   * The plaintext of a stored item, for checks that compare values (duplicate keys);
   * undefined when it is not JSON or cannot be decrypted — such an item matches nothing.
   */
  plaintext(resource: ResourceName, kv: KeyValue): unknown {
    const parsed = parseStored(kv);
    if (parsed === undefined) return undefined;
    try {
      return decryptFields(resource, parsed, this.cipher);
    } catch (err) {
      if (err instanceof FieldDecryptionError) return undefined;
      throw err;
    }
  }

  /**
   * The current value of an item about to be PATCHed. A value that is not a JSON object, or
   * whose encrypted fields cannot be read, cannot be merged into: 400, and PUT replaces it.
   */
  forUpdate(resource: ResourceName, kv: KeyValue): Record<string, unknown> {
    const parsed = parseStored(kv);
    if (!isPlainObject(parsed)) throw badRequest('the stored value is not a JSON object; replace it with PUT');
    try {
      return decryptFields(resource, parsed, this.cipher);
    } catch (err) {
      if (err instanceof FieldDecryptionError) {
        throw badRequest('the stored value has fields the configured keyring cannot decrypt; replace it with PUT');
      }
      throw err;
    }
  }

  /**
   * A stored value as a reply shows it: decrypted (plaintext in replies, SPEC §5.6), hidden
   * fields removed. An unparseable value is shown as the stored text; one that cannot be
   * decrypted keeps its ciphertext (useless without the keyring) and is logged by key only.
   * `masked` (a viewer's read, SPEC §12): sensitive fields replaced by a mask, and an
   * unparseable value is not shown at all (it could be anything).
   */
  forReply(def: ResourceDef, kv: KeyValue, masked = false): unknown {
    const parsed = parseStored(kv);
    if (parsed === undefined) return masked ? MASKED_VALUE : kv.value;
    let value: unknown = parsed;
    try {
      value = decryptFields(def.name, parsed, this.cipher);
    } catch (err) {
      if (!(err instanceof FieldDecryptionError)) throw err;
      this.log.warn({ key: kv.key, reason: err.message }, 'stored value cannot be decrypted; shown as stored');
    }
    if (def.name === 'secrets') value = withManagerInId(kv.key, value);
    if (masked) value = maskFields(def.name, value);
    return hideFields(def, value);
  }
}

/**
 * A secret manager's id as APISIX shows it, `<manager>/<id>`, also for a value an older
 * version stored with the plain id of its key.
 */
function withManagerInId(key: string, value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const [manager, id] = key.split('/').slice(-2);
  return value.id !== undefined && String(value.id) === id ? { ...value, id: `${manager}/${id}` } : value;
}

/** A plaintext value without the fields replies never carry (ssl `key`/`keys`). */
export function hideFields<T>(def: ResourceDef, value: T): T {
  if (!def.hiddenFields || !isPlainObject(value)) return value;
  const out: Record<string, unknown> = { ...value };
  for (const f of def.hiddenFields) delete out[f];
  return out as T;
}
