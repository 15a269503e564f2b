/**
 * A secret manager as the resolver sees it: one configured instance (`/secrets/<manager>/<id>`)
 * that can read a path. The path is everything after the conf id in the reference; the
 * provider decides how to read it (secret name, JSON field).
 *
 * `get` rejects with SecretNotFoundError when the secret or field does not exist, and with
 * another Error when it could not ask. Neither message may contain a secret value.
 */
export interface SecretProvider {
  get(path: string): Promise<string>;
  /**
   * The version before the current one (AWS: stage AWSPREVIOUS), read the same way as get().
   * Optional; used for rotation grace only, once per observed rotation.
   */
  getPrevious?(path: string): Promise<string | undefined>;
  /** Releases connections; called when the provider is replaced or removed. */
  close?(): void;
}

/** Builds a provider from the manager's configuration; throws when the configuration is unusable. */
export type ProviderFactory = (conf: unknown) => SecretProvider;
