export * from './types';
export { EtcdStore } from './etcd-store';
export type { EtcdStoreOptions, EtcdTlsOptions } from './etcd-store';
export { EmbeddedStore, EMBEDDED_FILES } from './embedded-store';
export type { EmbeddedStoreOptions } from './embedded-store';
