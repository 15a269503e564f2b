/** proxy-rewrite (APISIX 3.x, priority 1008): rewrites what is sent upstream. */
import { headerMap, headerOperations } from './header-operations';

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
      headers: headerOperations(headerMap),
      _meta: { type: 'object' },
    },
  },
};
