import { compileConfigRegex } from '../../compile/config-regex';

/** cors (APISIX 3.x, priority 4000): CORS response headers and preflight answers. */
export const corsPlugin = {
  name: 'cors',
  priority: 4000,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allow_origins: { type: 'string', pattern: '^(\\*|\\*\\*|null|\\w+://[^,]+(,\\w+://[^,]+)*)$', default: '*' },
      allow_methods: { type: 'string', default: '*' },
      allow_headers: { type: 'string', default: '*' },
      expose_headers: { type: 'string' },
      max_age: { type: 'integer', default: 5 },
      allow_credential: { type: 'boolean', default: false },
      allow_origins_by_regex: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 4096 } },
      _meta: { type: 'object' },
    },
  },
};

/**
 * APISIX refuses `*` together with credentials (browsers ignore it), and an origin regex that
 * does not compile — here with the data plane's own compile function (linear-time only).
 */
export function checkCorsConf(conf: Record<string, unknown>): string | undefined {
  if (conf.allow_credential === true) {
    for (const k of ['allow_origins', 'allow_methods', 'allow_headers', 'expose_headers']) {
      if ((conf[k] ?? (k === 'expose_headers' ? undefined : '*')) === '*') {
        return `you can not set '*' for other option when 'allow_credential' is true`;
      }
    }
  }
  for (const pattern of (conf.allow_origins_by_regex ?? []) as string[]) {
    try {
      compileConfigRegex(pattern);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return undefined;
}
