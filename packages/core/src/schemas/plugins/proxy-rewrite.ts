/** proxy-rewrite (APISIX 3.x, priority 1008): rewrites what is sent upstream. */
import { compileConfigRegex } from '../../compile/config-regex';
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

/**
 * APISIX's check_schema: pairs only, and every regex must compile — here with the data plane's
 * own compile function, so a pattern it would refuse (not linear-time) is refused on write.
 */
export function checkProxyRewriteConf(conf: Record<string, unknown>): string | undefined {
  const regex = conf.regex_uri as string[] | undefined;
  if (!regex || regex.length === 0) return undefined;
  if (regex.length % 2 !== 0) return 'The length of regex_uri should be an even number';
  for (let i = 0; i < regex.length; i += 2) {
    try {
      compileConfigRegex(regex[i]);
    } catch (err) {
      return `invalid regex_uri(${regex[i]}, ${regex[i + 1]}): ${(err as Error).message}`;
    }
  }
  return undefined;
}
