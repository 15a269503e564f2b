/** Built-in defaults for config.yaml (SPEC §1). The user's file is deep-merged over these. */
export const DEFAULT_CONFIG = {
  apisix: {
    node_listen: [9080] as Array<number | { ip?: string; port: number }>,
    ssl: { ssl_trusted_certificate: 'system' },
    data_encryption: { enable_encrypt_fields: true, keyring: [] as string[] },
    lru: { secret: { ttl: 300, neg_ttl: 60, count: 4096 } },
    // Data-plane HTTP server. keepalive_timeout (s) is above common load-balancer idle timeouts
    // (AWS ALB 60 s) so the LB, not the gateway, closes idle connections (no request races a
    // close); the headers timeout is set a little above it. max_header_size (bytes): larger
    // request heads get 431. send_timeout (s): a client that takes no response bytes for this
    // long has its connection closed and its upstream request cancelled (nginx's send_timeout).
    // server / upstream_client: Portico's own HTTP/1.1 stack (packages/http1) or node:http's
    // server and undici, which it falls back to by itself when Node lacks the internals.
    http: {
      keepalive_timeout: 75,
      max_header_size: 32768,
      send_timeout: 60,
      server: 'own' as 'own' | 'node',
      upstream_client: 'own' as 'own' | 'undici',
    },
    // Proxy worker processes ("auto": one per CPU). With more than one, a primary process owns
    // the store watch and the secret cache and feeds the workers over IPC (nginx's
    // worker_processes; 1 keeps a laptop run to one process).
    workers: 1 as number | 'auto',
    // Collect garbage once the node has been quiet for a few seconds, so memory grown under load
    // goes back to the OS (see packages/cli/src/idle-gc.ts for why V8 does not do it itself).
    idle_gc: true,
  },
  deployment: {
    role: 'traditional' as 'traditional' | 'control_plane' | 'data_plane',
    config_provider: 'embedded' as 'embedded' | 'etcd',
    embedded: { data_dir: 'data' },
    admin: {
      admin_listen: { ip: '127.0.0.1', port: 9180 },
      admin_key_required: true,
      admin_key: [{ name: 'admin', key: '', role: 'admin' }] as Array<{ name: string; key: string; role: 'admin' | 'viewer' }>,
      allow_admin: ['127.0.0.0/8', '::1/128'],
      // The dashboard at /ui/ on the admin port (APISIX's embedded dashboard setting).
      enable_admin_ui: true,
    },
    etcd: {
      host: ['http://127.0.0.1:2379'],
      prefix: '/apisix',
      timeout: 30,
      user: null as string | null,
      password: null as string | null,
      tls: { cert: null as string | null, key: null as string | null, ca: null as string | null, verify: true },
    },
  },
  control: { ip: '127.0.0.1', port: 9090 },
  metrics: { ip: '127.0.0.1', port: 9091 },
};

export type PorticoConfig = typeof DEFAULT_CONFIG;
