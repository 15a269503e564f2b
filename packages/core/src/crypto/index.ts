export { ENCRYPTED_PREFIX, FieldCipher, FieldDecryptionError, MIN_KEYRING_ENTRY_LENGTH } from './field-cipher';
export type { FieldCipherOptions } from './field-cipher';
export { KEYRING_FILE, fieldCipherFromConfig, loadKeyring } from './keyring';
export type { KeyringMode } from './keyring';
export { MASKED_VALUE, SENSITIVE_FIELDS, decryptFields, encryptFields, maskFields } from './sensitive-fields';
