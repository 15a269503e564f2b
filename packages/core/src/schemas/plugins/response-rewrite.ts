/** response-rewrite (APISIX 3.x, priority 899): rewrites the response sent to the client. */
const headerValue = { oneOf: [{ type: 'string' }, { type: 'number' }] };
const headerMap = { type: 'object', minProperties: 1, propertyNames: { pattern: '^[^:]+$' }, additionalProperties: headerValue };

export const responseRewritePlugin = {
  name: 'response-rewrite',
  priority: 899,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status_code: { type: 'integer', minimum: 200, maximum: 598 },
      body: { type: 'string' },
      body_base64: { type: 'boolean' },
      headers: {
        anyOf: [
          {
            type: 'object',
            minProperties: 1,
            additionalProperties: false,
            properties: {
              add: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+:[^:]*[^/]$' } },
              set: headerMap,
              remove: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+$' } },
            },
          },
          headerMap,
        ],
      },
      vars: { type: 'array' },
      _meta: { type: 'object' },
    },
  },
};
