import { PLUGIN_DEFINITIONS, compileConfigRegex } from '@portico/core';
import type { RequestContext } from '../server/request-context';
import type { Plugin, PluginResponse } from './types';

export interface CorsConf {
  /** `*` literal, `**` any origin echoed, else the allowed origins */
  origins: '*' | '**' | ReadonlySet<string>;
  originRegexes: RegExp[];
  methods: string;
  /** `**`: echo the preflight's Access-Control-Request-Headers */
  headers: string;
  expose?: string;
  maxAge: string;
  credentials: boolean;
}

const ALL_METHODS = 'GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE';
const PREFLIGHT: PluginResponse = { status: 200, raw: '' };

/** The Access-Control-Allow-Origin value for this request, or undefined when its origin is not allowed. */
function allowedOrigin(conf: CorsConf, ctx: RequestContext): string | undefined {
  const origin = ctx.header('origin');
  if (conf.origins === '*') return '*';
  if (conf.origins === '**') return origin ?? '*';
  if (origin === undefined) return undefined;
  if (conf.origins.has(origin)) return origin;
  for (const re of conf.originRegexes) if (re.test(origin)) return origin;
  return undefined;
}

/**
 * cors with APISIX's defaults (origins/methods/headers `*`, max_age 5, no credentials):
 * every OPTIONS request is answered 200 by the gateway (preflight), and the CORS headers are
 * added in the header filter to every response whose Origin is allowed — upstream answers and
 * plugin replies alike, so a browser can read a 401 or 429.
 */
export const corsPlugin: Plugin<CorsConf> = {
  name: 'cors',
  priority: PLUGIN_DEFINITIONS['cors'].priority,
  shareable: true,

  compile(conf): CorsConf {
    const credentials = conf.allow_credential === true;
    const origins = String(conf.allow_origins ?? '*');
    const methods = String(conf.allow_methods ?? '*');
    const headers = String(conf.allow_headers ?? '*');
    // A `*` with credentials is ignored by browsers; APISIX refuses the conf.
    if (credentials && [origins, methods, headers, conf.expose_headers].includes('*')) {
      throw new Error("you can not set '*' for other option when 'allow_credential' is true");
    }
    return {
      origins: origins === '*' || origins === '**' ? origins : new Set(origins.split(',').map((o) => o.trim())),
      originRegexes: ((conf.allow_origins_by_regex ?? []) as string[]).map((r) => compileConfigRegex(r)),
      methods: methods === '**' ? ALL_METHODS : methods,
      headers,
      expose: conf.expose_headers as string | undefined,
      maxAge: String(conf.max_age ?? 5),
      credentials,
    };
  },

  phases: {
    rewrite(_conf, ctx) {
      return ctx.method === 'OPTIONS' ? PREFLIGHT : undefined;
    },
  },

  headerFilter(conf, ctx, head) {
    const origin = allowedOrigin(conf, ctx);
    if (origin === undefined) return;
    const h = head.headers;
    h['access-control-allow-origin'] = origin;
    if (origin !== '*') {
      const vary = h.vary;
      h.vary = vary === undefined ? 'Origin' : `${Array.isArray(vary) ? vary.join(', ') : vary}, Origin`;
    }
    h['access-control-allow-methods'] = conf.methods;
    h['access-control-max-age'] = conf.maxAge;
    h['access-control-allow-headers'] = conf.headers === '**' ? (ctx.header('access-control-request-headers') ?? '*') : conf.headers;
    if (conf.expose !== undefined) h['access-control-expose-headers'] = conf.expose;
    if (conf.credentials) h['access-control-allow-credentials'] = 'true';
  },
};
