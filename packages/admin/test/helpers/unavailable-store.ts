import { ConfigStore, StoreUnavailableError } from '@portico/core';

/**
 * A store whose every call fails as an unreachable etcd does. A unit-test stub: it stands in
 * for an outage, which a real store cannot be made to have on demand within one process.
 */
export function unavailableStore(reason = 'etcd unreachable: connect ECONNREFUSED 127.0.0.1:2379'): ConfigStore {
  const fail = async (): Promise<never> => {
    throw new StoreUnavailableError(reason);
  };
  return {
    kind: 'etcd',
    range: fail,
    get: fail,
    put: fail,
    delete: fail,
    watch: fail,
    grantLease: fail,
    close: async () => undefined,
  };
}
