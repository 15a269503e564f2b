import { resolve } from 'node:path';
import { ConfigStore, PorticoConfig } from '@portico/core';
import { EmbeddedStore, EtcdStore } from '@portico/core';

/** Opens the store that deployment.config_provider names. */
export async function openStore(config: PorticoConfig): Promise<ConfigStore> {
  const d = config.deployment;
  if (d.config_provider === 'embedded') {
    return EmbeddedStore.open(resolve(d.embedded.data_dir));
  }
  return new EtcdStore({
    hosts: d.etcd.host,
    timeoutSeconds: d.etcd.timeout,
    user: d.etcd.user ?? undefined,
    password: d.etcd.password ?? undefined,
    tls: d.etcd.tls,
  });
}
