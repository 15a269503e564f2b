import { checkRedisPolicy, REDIS_PROPERTIES } from './limit-redis';

/**
 * limit-count (APISIX 3.x, priority 1002): a fixed-window request quota per key, counted on
 * the node (`local`) or in Redis shared by every node (`redis`, `redis-cluster`).
 */
export const limitCountPlugin = {
  name: 'limit-count',
  priority: 1002,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['count', 'time_window'],
    properties: {
      count: { type: 'integer', exclusiveMinimum: 0 },
      time_window: { type: 'integer', exclusiveMinimum: 0 },
      /** Confs with the same group share one counter (per node); they must be identical. */
      group: { type: 'string' },
      key_type: { type: 'string', enum: ['var', 'var_combination', 'constant'], default: 'var' },
      key: { type: 'string', default: 'remote_addr' },
      rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 503 },
      rejected_msg: { type: 'string', minLength: 1 },
      policy: { type: 'string', enum: ['local', 'redis', 'redis-cluster'], default: 'local' },
      allow_degradation: { type: 'boolean', default: false },
      show_limit_quota_header: { type: 'boolean', default: true },
      ...REDIS_PROPERTIES,
      _meta: { type: 'object' },
    },
  },
};

/**
 * The fields APISIX compares between confs of one group: every schema property (with its
 * default when unset, as APISIX compares confs after the schema filled them in), except the
 * injected `_meta`.
 */
const GROUP_FIELDS = Object.entries(limitCountPlugin.schema.properties)
  .filter(([name]) => name !== '_meta')
  .map(([name, prop]) => [name, (prop as { default?: unknown }).default] as const);

/** group → the canonical form of the first conf seen with it, in this process. */
const groupConfs = new Map<string, string>();

/**
 * APISIX's limit-count `check_schema` (apisix/plugins/limit-count/init.lua): the first conf
 * checked with a given `group` is remembered for the life of the process, and a conf with the
 * same group and any other value is refused with `group conf mismatched`. So changing a shared
 * limit means changing its group name too, as APISIX's maintainers advise; and a store that
 * somehow holds two confs for one group (written by two admin processes, or straight into
 * etcd) loads the first and skips the items with the other, since a data-plane node checks
 * the confs it loads the same way. (APISIX keeps the first conf in an 8-entry LRU per worker,
 * so with more than 8 groups a mismatch can slip through there; Portico does not forget.)
 */
export function checkLimitCountConf(conf: Record<string, unknown>): string | undefined {
  const policy = checkRedisPolicy(conf);
  if (policy) return policy;
  if (typeof conf.group !== 'string') return undefined;
  const canonical = JSON.stringify(GROUP_FIELDS.map(([name, dflt]) => conf[name] ?? dflt ?? null));
  const prev = groupConfs.get(conf.group);
  if (prev === undefined) {
    groupConfs.set(conf.group, canonical);
    return undefined;
  }
  return prev === canonical ? undefined : 'group conf mismatched';
}
