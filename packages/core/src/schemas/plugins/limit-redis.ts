/**
 * The Redis fields of limit-count, limit-req and limit-conn (APISIX's apisix/utils/redis-schema.lua):
 * `policy: redis` takes one server (`redis_host` required), `policy: redis-cluster` a node list
 * and a cluster name (both required). The properties are listed at the top level of each
 * plugin's schema (which forbids unknown properties); which ones a policy requires is checked
 * by checkRedisPolicy, with APISIX's messages.
 */
export const REDIS_PROPERTIES = {
  redis_host: { type: 'string', minLength: 2 },
  redis_port: { type: 'integer', minimum: 1, maximum: 65535, default: 6379 },
  redis_username: { type: 'string', minLength: 1 },
  /** May be a `$secret://` or `$env://` reference. */
  redis_password: { type: 'string', minLength: 0 },
  redis_database: { type: 'integer', minimum: 0, default: 0 },
  /** ms: connect and command timeout. */
  redis_timeout: { type: 'integer', minimum: 1, default: 1000 },
  redis_ssl: { type: 'boolean', default: false },
  redis_ssl_verify: { type: 'boolean', default: false },
  /** Accepted for APISIX confs; the client keeps one long-lived connection per target instead of a pool. */
  redis_keepalive_timeout: { type: 'integer', minimum: 1000, default: 10000 },
  redis_keepalive_pool: { type: 'integer', minimum: 1, default: 100 },
  redis_cluster_nodes: { type: 'array', minItems: 1, items: { type: 'string', minLength: 2, maxLength: 100 } },
  redis_cluster_name: { type: 'string' },
  redis_cluster_ssl: { type: 'boolean', default: false },
  redis_cluster_ssl_verify: { type: 'boolean', default: false },
} as const;

/** Fields APISIX's redis-cluster branch knows; redis_host etc. are ignored with that policy. */
const POLICY_REQUIRED: Record<string, readonly string[]> = {
  redis: ['redis_host'],
  'redis-cluster': ['redis_cluster_nodes', 'redis_cluster_name'],
};

/**
 * The policy conditional of APISIX's schema (`if policy == redis then ... else if policy ==
 * redis-cluster then ...`), with its messages: `then clause did not match` for a redis conf
 * without redis_host, `else clause did not match` for a cluster conf without nodes or name.
 */
export function checkRedisPolicy(conf: Record<string, unknown>): string | undefined {
  const policy = conf.policy as string | undefined;
  const required = policy !== undefined ? POLICY_REQUIRED[policy] : undefined;
  if (!required) return undefined;
  if (required.some((f) => conf[f] === undefined)) return policy === 'redis' ? 'then clause did not match' : 'else clause did not match';
  if (policy === 'redis-cluster') {
    for (const node of conf.redis_cluster_nodes as string[]) {
      if (!/^[^\s:]+:\d{1,5}$/.test(node) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(node)) return `invalid redis cluster node "${node}": expected host:port`;
    }
  }
  return undefined;
}
