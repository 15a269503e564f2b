export { parseSecretRef, isSecretRef, SECRET_PREFIX, type SecretRef, type SecretManagerRef, type EnvRef } from './reference';
export type { SecretProvider, ProviderFactory } from './provider';
export { SecretNotFoundError } from './errors';
export { readJsonField } from './json-field';
export { AwsSecretProvider, createAwsProvider, resolveAwsConf, awsCredentials, type AwsSecretConf, type AwsProviderOptions } from './providers/aws';
export { createEnvProvider, readEnv } from './providers/env';
export { VaultSecretProvider, createVaultProvider, resolveVaultConf, type VaultSecretConf, type VaultProviderOptions } from './providers/vault';
export {
  GcpSecretProvider,
  createGcpProvider,
  resolveGcpConf,
  signServiceAccountAssertion,
  GCP_JWT_BEARER_GRANT,
  type GcpSecretConf,
  type GcpServiceAccount,
  type GcpProviderOptions,
} from './providers/gcp';
export { LruMap } from './cache';
export type { ManagerStats } from './stats';
export {
  SecretResolver,
  type SecretResolverOptions,
  type PeekResult,
  type PeekState,
  type ChangeListener,
  type EntryState,
  type SecretCache,
} from './resolver';
export { RemoteSecretResolver, type SecretChannel } from './remote';
