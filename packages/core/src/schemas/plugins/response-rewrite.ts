/** response-rewrite (APISIX 3.x, priority 899): rewrites the response sent to the client. */
import { compileExpr } from '../../compile/vars-expr';
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

/** `vars` must compile as the data plane compiles it (APISIX: `expr.new` in check_schema). */
export function checkResponseRewriteConf(conf: Record<string, unknown>): string | undefined {
  if (conf.vars === undefined) return undefined;
  try {
    compileExpr(conf.vars);
  } catch (err) {
    return `failed to validate the 'vars' expression: ${(err as Error).message}`;
  }
  return undefined;
}
