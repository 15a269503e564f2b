/** Errors shared by every package. Messages never contain secret values. */

/** The store could not be reached in time; the admin API maps this to 503. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A compare-and-swap write lost the race (`ifModRevision` did not match). */
export class CompareFailedError extends Error {
  override name = 'CompareFailedError';
  constructor(key: string) {
    super(`value changed before overwritten: ${key}`);
  }
}

/** Another process already owns the embedded store's data directory. */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

/** config.yaml is invalid; the message names the key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
