/** key-auth (SPEC §8): route/service conf and consumer/credential conf. */
export const keyAuthPlugin = {
  name: 'key-auth',
  priority: 2500,
  type: 'auth' as const,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header: { type: 'string', minLength: 1 },
      query: { type: 'string', minLength: 1 },
      hide_credentials: { type: 'boolean' },
      anonymous_consumer: { type: 'string', minLength: 1 },
      realm: { type: 'string' },
      _meta: { type: 'object' },
    },
  },
  consumerSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['key'],
    properties: { key: { type: 'string', minLength: 1 } },
  },
};
