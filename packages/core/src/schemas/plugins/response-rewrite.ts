/** response-rewrite (APISIX 3.x, priority 899): rewrites the response sent to the client. */
import { headerOperations } from './header-operations';

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
      headers: headerOperations({ type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+:[^:]*[^/]$' } }),
      vars: { type: 'array' },
      _meta: { type: 'object' },
    },
  },
};
