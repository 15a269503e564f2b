import { ConfigStore, EtcdStore } from '@portico/core';
import { EtcdProcess, startEtcd } from '@portico/testkit';
import { openTestStore, startHarness, type Harness } from './admin-harness';

export type StoreKind = 'embedded' | 'etcd';

/** Run a suite on both stores: `describe.each(STORE_KINDS)('... on %s', (kind) => ...)`. */
export const STORE_KINDS: StoreKind[] = ['embedded', 'etcd'];

/**
 * Where a suite's stores come from. One backend per test file: for etcd that is one real etcd
 * process, shared by every store the file opens (starting etcd costs about a second).
 */
export interface StoreBackend {
  readonly kind: StoreKind;
  /** The etcd process, for outage tests; undefined for the embedded store. */
  readonly etcd?: EtcdProcess;
  /** A store with nothing under `/apisix`: a fresh embedded store, or the shared etcd wiped. */
  open(opts?: { timeoutSeconds?: number }): Promise<{ store: ConfigStore; cleanup(): Promise<void> }>;
  stop(): Promise<void>;
}

export async function startBackend(kind: StoreKind, name = 'admin-test'): Promise<StoreBackend> {
  if (kind === 'embedded') {
    return { kind, open: () => openTestStore(), stop: async () => undefined };
  }
  const etcd = await startEtcd({ name });
  return {
    kind,
    etcd,
    async open(opts = {}) {
      const store = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: opts.timeoutSeconds ?? 5 });
      // The key and everything under `/apisix/`, in one transaction: what the last suite left.
      await store.delete('/apisix', { withChildren: true });
      return { store, cleanup: () => store.close() };
    },
    stop: () => etcd.stop(),
  };
}

/**
 * An admin harness on a fresh store of `kind` (one backend for it alone); its close() also
 * closes the store and stops the backend. For suites run with `describe.each(STORE_KINDS)`.
 */
export async function startHarnessOn(
  kind: StoreKind,
  name: string,
  opts: Omit<Parameters<typeof startHarness>[0] & object, 'store'> = {},
): Promise<Harness> {
  const backend = await startBackend(kind, name);
  const opened = await backend.open();
  const h = await startHarness({ ...opts, store: opened.store });
  return {
    ...h,
    async close() {
      await h.close();
      await opened.cleanup();
      await backend.stop();
    },
  };
}
