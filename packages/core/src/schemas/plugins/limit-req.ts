import { REDIS_PROPERTIES } from './limit-redis';

/**
 * limit-req (APISIX 3.x, priority 1001): a leaky bucket per key, on the node (`local`) or in
 * Redis shared by every node (`redis`, `redis-cluster`; checkRedisPolicy).
 */
export const limitReqPlugin = {
  name: 'limit-req',
  priority: 1001,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['rate', 'burst', 'key'],
    properties: {
      rate: { type: 'number', exclusiveMinimum: 0 },
      burst: { type: 'number', minimum: 0 },
      key: { type: 'string', minLength: 1 },
      key_type: { type: 'string', enum: ['var', 'var_combination'], default: 'var' },
      rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 503 },
      rejected_msg: { type: 'string', minLength: 1 },
      nodelay: { type: 'boolean', default: false },
      policy: { type: 'string', enum: ['local', 'redis', 'redis-cluster'], default: 'local' },
      allow_degradation: { type: 'boolean', default: false },
      ...REDIS_PROPERTIES,
      _meta: { type: 'object' },
    },
  },
};
