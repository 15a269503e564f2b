/** proxy-rewrite (APISIX 3.x, priority 1008): rewrites what is sent upstream. */
const headerValue = { oneOf: [{ type: 'string' }, { type: 'number' }] };
const headerMap = {
  type: 'object',
  minProperties: 1,
  propertyNames: { pattern: '^[^:]+$' },
  additionalProperties: headerValue,
};

export const proxyRewritePlugin = {
  name: 'proxy-rewrite',
  priority: 1008,
  schema: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: {
      uri: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^\\/.*' },
      method: { type: 'string', enum: ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'MKCOL', 'COPY', 'MOVE', 'PROPFIND', 'LOCK', 'UNLOCK', 'PATCH', 'TRACE'] },
      // pairs of [regex, template]: the first regex that matches the uri is used
      regex_uri: { type: 'array', minItems: 2, items: { type: 'string' } },
      host: { type: 'string', pattern: '^[0-9a-zA-Z-.]+(:\\d{1,5})?$' },
      scheme: { type: 'string', enum: ['http', 'https'] },
      use_real_request_uri_unsafe: { type: 'boolean' },
      headers: {
        anyOf: [
          {
            type: 'object',
            minProperties: 1,
            additionalProperties: false,
            properties: {
              add: headerMap,
              set: headerMap,
              remove: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+$' } },
            },
          },
          // APISIX 2.x form: a plain map means `set` (an empty value removes the header)
          headerMap,
        ],
      },
      _meta: { type: 'object' },
    },
  },
};
