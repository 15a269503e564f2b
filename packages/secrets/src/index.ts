export { parseSecretRef, isSecretRef, SECRET_PREFIX, type SecretRef, type SecretManagerRef, type EnvRef } from './reference';
export type { SecretProvider, ProviderFactory } from './provider';
export { SecretNotFoundError } from './errors';
export { readJsonField } from './json-field';
export { AwsSecretProvider, createAwsProvider, resolveAwsConf, type AwsSecretConf, type AwsProviderOptions } from './providers/aws';
export { createEnvProvider, readEnv } from './providers/env';
export { LruMap } from './cache';
export type { ManagerStats } from './stats';
export {
  SecretResolver,
  type SecretResolverOptions,
  type PeekResult,
  type PeekState,
  type ChangeListener,
} from './resolver';
