/** basic-auth (APISIX 3.x, priority 2520): route conf and consumer/credential conf. */
export const basicAuthPlugin = {
  name: 'basic-auth',
  priority: 2520,
  type: 'auth' as const,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      hide_credentials: { type: 'boolean', default: false },
      anonymous_consumer: { type: 'string', minLength: 1 },
      _meta: { type: 'object' },
    },
  },
  consumerSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['username', 'password'],
    properties: {
      username: { type: 'string', minLength: 1 },
      /** May be a `$secret://` / `$env://` reference. */
      password: { type: 'string', minLength: 1 },
    },
  },
};
