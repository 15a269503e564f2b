import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ConfigError } from '../errors';

/**
 * Marks an encrypted field value: `$enc:v1:` + base64url(iv ‖ ciphertext ‖ tag). A value
 * without it is plaintext (written before encryption was enabled) and is read as it is.
 * The version lets a later format coexist with stored v1 values.
 */
export const ENCRYPTED_PREFIX = '$enc:v1:';

const IV_BYTES = 12; // GCM's native nonce size
const TAG_BYTES = 16;
/** Shortest keyring entry accepted: APISIX's keyring entries are 16 characters. */
export const MIN_KEYRING_ENTRY_LENGTH = 16;
const HKDF_INFO = 'portico field encryption v1';

/** A stored value could not be decrypted by any keyring entry. Never carries the value. */
export class FieldDecryptionError extends Error {
  override name = 'FieldDecryptionError';
}

export interface FieldCipherOptions {
  /**
   * false: decrypt what is stored but write plaintext (`enable_encrypt_fields: false` with a
   * keyring kept for values written earlier). Default true.
   */
  encryptWrites?: boolean;
}

/**
 * AES-256-GCM over single string fields (SPEC §5.6). Encrypts with the first keyring entry;
 * decrypts with whichever entry authenticates the value, so a keyring can be rotated by
 * putting the new entry first and keeping the old ones until every value was rewritten.
 *
 * Portico differs from APISIX (AES-128-CBC with the key as IV): authenticated encryption with a
 * random IV per value, so equal plaintexts give different ciphertexts and tampering is
 * detected. Keyring entries are passphrases of ≥ 16 characters (APISIX's are 16); the AES key is
 * derived from each with HKDF-SHA256, so any such entry yields a full 256-bit key.
 */
export class FieldCipher {
  private readonly keys: Buffer[];
  readonly encryptWrites: boolean;

  /** Throws ConfigError (naming the setting, never the value) for an empty keyring or a short entry. */
  constructor(keyring: readonly string[], opts: FieldCipherOptions = {}) {
    if (keyring.length === 0) throw new ConfigError('apisix.data_encryption.keyring is empty');
    keyring.forEach((entry, i) => {
      if (typeof entry !== 'string' || entry.length < MIN_KEYRING_ENTRY_LENGTH) {
        throw new ConfigError(`apisix.data_encryption.keyring[${i}] must be a string of at least ${MIN_KEYRING_ENTRY_LENGTH} characters`);
      }
    });
    this.keys = keyring.map((entry) => Buffer.from(hkdfSync('sha256', Buffer.from(entry, 'utf8'), Buffer.alloc(0), HKDF_INFO, 32)));
    this.encryptWrites = opts.encryptWrites ?? true;
  }

  static isEncrypted(value: string): boolean {
    return value.startsWith(ENCRYPTED_PREFIX);
  }

  /**
   * Encrypts one plaintext with the first entry. Every value is wrapped, even one that itself
   * looks encrypted: decrypt() removes exactly one layer, so what a client wrote is what it
   * reads back. With `encryptWrites: false` the plaintext is returned as it is.
   */
  encrypt(plaintext: string): string {
    if (!this.encryptWrites) return plaintext;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0], iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ENCRYPTED_PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** Plaintext of a stored value; a value without the prefix is returned unchanged. */
  decrypt(stored: string): string {
    if (!FieldCipher.isEncrypted(stored)) return stored;
    const raw = Buffer.from(stored.slice(ENCRYPTED_PREFIX.length), 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new FieldDecryptionError('encrypted value is truncated');
    const iv = raw.subarray(0, IV_BYTES);
    const tag = raw.subarray(raw.length - TAG_BYTES);
    const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch {
        // Not this entry (or tampered): GCM's tag check failed; try the next one.
      }
    }
    throw new FieldDecryptionError('no keyring entry decrypts this value (keyring changed, or the value was altered)');
  }
}
