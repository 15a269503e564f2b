/** limit-req (APISIX 3.x, priority 1001): leaky bucket per key (local policy). */
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
      policy: { type: 'string', enum: ['local'], default: 'local' },
      allow_degradation: { type: 'boolean', default: false },
      _meta: { type: 'object' },
    },
  },
};
