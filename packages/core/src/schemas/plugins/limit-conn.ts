import { REDIS_PROPERTIES } from './limit-redis';

/**
 * limit-conn (APISIX 3.x, priority 1003): at most `conn` concurrent requests per key, `burst`
 * more delayed, the rest rejected; counted on the node (`local`) or in Redis shared by every
 * node (`redis`, `redis-cluster`; checkRedisPolicy).
 */
export const limitConnPlugin = {
  name: 'limit-conn',
  priority: 1003,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['conn', 'burst', 'default_conn_delay', 'key'],
    properties: {
      conn: { type: 'integer', exclusiveMinimum: 0 },
      burst: { type: 'integer', minimum: 0 },
      /** seconds: the delay of a request over `conn` (per `conn` it is over), until latencies are measured */
      default_conn_delay: { type: 'number', exclusiveMinimum: 0 },
      only_use_default_delay: { type: 'boolean', default: false },
      key: { type: 'string' },
      key_type: { type: 'string', enum: ['var', 'var_combination'], default: 'var' },
      policy: { type: 'string', enum: ['local', 'redis', 'redis-cluster'], default: 'local' },
      rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 503 },
      rejected_msg: { type: 'string', minLength: 1 },
      allow_degradation: { type: 'boolean', default: false },
      ...REDIS_PROPERTIES,
      /** seconds a request counts in Redis at most (a node that died mid-request stops holding a slot then) */
      key_ttl: { type: 'integer', default: 3600 },
      _meta: { type: 'object' },
    },
  },
};
