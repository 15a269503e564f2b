/** jwt-auth (APISIX 3.x, priority 2510): route conf and consumer/credential conf (HS256, RS256). */
export const jwtAuthPlugin = {
  name: 'jwt-auth',
  priority: 2510,
  type: 'auth' as const,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header: { type: 'string', minLength: 1, default: 'authorization' },
      query: { type: 'string', minLength: 1, default: 'jwt' },
      cookie: { type: 'string', minLength: 1, default: 'jwt' },
      hide_credentials: { type: 'boolean', default: false },
      key_claim_name: { type: 'string', minLength: 1, default: 'key' },
      anonymous_consumer: { type: 'string', minLength: 1 },
      _meta: { type: 'object' },
    },
  },
  consumerSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['key'],
    properties: {
      key: { type: 'string', minLength: 1 },
      /** HS256 key; may be a secret reference. */
      secret: { type: 'string', minLength: 1 },
      algorithm: { type: 'string', enum: ['HS256', 'RS256'], default: 'HS256' },
      /** RS256 PEM public key; may be a secret reference. */
      public_key: { type: 'string', minLength: 1 },
      exp: { type: 'integer', minimum: 1, default: 86400 },
      base64_secret: { type: 'boolean', default: false },
      lifetime_grace_period: { type: 'integer', minimum: 0, default: 0 },
    },
    // The key material the algorithm needs must be there (APISIX 3.x refuses the same).
    if: { properties: { algorithm: { const: 'RS256' } }, required: ['algorithm'] },
    then: { required: ['public_key'] },
    else: { required: ['secret'] },
  },
};
