/**
 * The secret (or the field of it) definitively does not exist, as opposed to a failure to ask
 * (network, throttling, credentials). The distinction matters twice: a provider that can read a
 * path in two ways tries the other reading only on this error, and the resolver stops serving
 * a previous value on it (a deleted secret must stop authenticating) while it keeps serving
 * the previous value through outages. Messages name secrets and fields, never values.
 */
export class SecretNotFoundError extends Error {
  override name = 'SecretNotFoundError';
}
