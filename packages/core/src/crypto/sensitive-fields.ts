import type { ResourceName } from '../keys';
import { isPlainObject } from '../plain-object';
import { isSecretReference } from '../schemas/common';
import { FieldCipher, FieldDecryptionError } from './field-cipher';

/**
 * Fields encrypted at rest (SPEC §5.6) and masked for viewers (SPEC §12), per resource, as paths into the stored value; `*`
 * stands for every element of an array. Consumers and credentials carry the same auth
 * plugins. Listed: key-auth `key`, basic-auth `password`, secret-manager credentials, ssl
 * private keys. gcp's inline service-account `private_key` is listed too (the same kind of
 * secret as aws's `secret_access_key`).
 */
const AUTH_FIELDS: readonly string[][] = [
  ['plugins', 'key-auth', 'key'],
  ['plugins', 'basic-auth', 'password'],
  // APISIX encrypts jwt-auth's secret too (its encrypt_fields).
  ['plugins', 'jwt-auth', 'secret'],
];

export const SENSITIVE_FIELDS: Readonly<Partial<Record<ResourceName, readonly string[][]>>> = {
  consumers: AUTH_FIELDS,
  credentials: AUTH_FIELDS,
  secrets: [['secret_access_key'], ['session_token'], ['token'], ['auth_config', 'private_key']],
  ssls: [['key'], ['keys', '*']],
};

/**
 * A copy of `value` with `transform` applied to every string at `path`. Only the containers
 * along the path are copied; the input is never modified. Anything that is not where the
 * path expects it (a missing plugin, a number) is left alone: validation judges it, not this.
 */
function mapAt(value: unknown, path: readonly string[], transform: (s: string) => string): unknown {
  if (path.length === 0) return typeof value === 'string' ? transform(value) : value;
  const [head, ...rest] = path;
  if (head === '*') {
    if (!Array.isArray(value)) return value;
    return value.map((v) => mapAt(v, rest, transform));
  }
  if (!isPlainObject(value) || !Object.hasOwn(value, head)) return value;
  const next = mapAt(value[head], rest, transform);
  return next === value[head] ? value : { ...value, [head]: next };
}

function mapFields<T>(kind: ResourceName, value: T, transform: (s: string, field: string) => string): T {
  let out: unknown = value;
  for (const path of SENSITIVE_FIELDS[kind] ?? []) out = mapAt(out, path, (s) => transform(s, path.join('.')));
  return out as T;
}

/**
 * The value to store for a resource value of `kind` (the key-layout resource name:
 * `consumers`, `credentials`, `secrets`, `ssls`, ...): its sensitive fields encrypted with the
 * first keyring entry. Pure; with no cipher (encryption off) the value is returned as it is.
 */
export function encryptFields<T>(kind: ResourceName, value: T, cipher: FieldCipher | undefined): T {
  if (!cipher || !cipher.encryptWrites) return value;
  return mapFields(kind, value, (s) => cipher.encrypt(s));
}

/**
 * The plaintext of a stored value of `kind`: encrypted fields decrypted with any keyring
 * entry, plaintext fields (older writes) unchanged. Throws FieldDecryptionError, naming the
 * field but never its value, when an encrypted field fits no entry — or when there is no
 * cipher at all but a field is encrypted.
 */
export function decryptFields<T>(kind: ResourceName, value: T, cipher: FieldCipher | undefined): T {
  return mapFields(kind, value, (s, field) => {
    if (!FieldCipher.isEncrypted(s)) return s;
    if (!cipher) throw new FieldDecryptionError(`cannot decrypt field ${field} of ${kind}: no keyring is configured (apisix.data_encryption.keyring)`);
    try {
      return cipher.decrypt(s);
    } catch (err) {
      throw new FieldDecryptionError(`cannot decrypt field ${field} of ${kind}: ${(err as Error).message}`);
    }
  });
}

/** What a viewer (read-only admin key) reads in place of a sensitive value (SPEC §12). */
export const MASKED_VALUE = '******';

/**
 * `value` as a viewer is shown it: every sensitive field replaced by MASKED_VALUE, whether it
 * is plaintext or ciphertext the node could not decrypt. A secret reference (`$secret://`,
 * `$env://`) names where the value lives, not the value, and is shown as it is.
 */
export function maskFields<T>(kind: ResourceName, value: T): T {
  return mapFields(kind, value, (s) => (isSecretReference(s) ? s : MASKED_VALUE));
}
