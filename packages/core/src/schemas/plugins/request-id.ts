/** request-id (APISIX 3.x, priority 12015): a unique id per request, upstream and back. */
export const requestIdPlugin = {
  name: 'request-id',
  priority: 12015,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header_name: { type: 'string', minLength: 1, default: 'X-Request-Id' },
      include_in_response: { type: 'boolean', default: true },
      algorithm: { type: 'string', enum: ['uuid', 'nanoid', 'range_id'], default: 'uuid' },
      range_id: {
        type: 'object',
        properties: {
          length: { type: 'integer', minimum: 6, default: 16 },
          char_set: { type: 'string', minLength: 6, default: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789' },
        },
      },
      _meta: { type: 'object' },
    },
  },
};
