/** limit-count (APISIX 3.x, priority 1002): a fixed-window request quota per key (local policy). */
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
      group: { type: 'string' },
      key_type: { type: 'string', enum: ['var', 'var_combination', 'constant'], default: 'var' },
      key: { type: 'string', default: 'remote_addr' },
      rejected_code: { type: 'integer', minimum: 200, maximum: 599, default: 503 },
      rejected_msg: { type: 'string', minLength: 1 },
      policy: { type: 'string', enum: ['local'], default: 'local' },
      allow_degradation: { type: 'boolean', default: false },
      show_limit_quota_header: { type: 'boolean', default: true },
      _meta: { type: 'object' },
    },
  },
};
