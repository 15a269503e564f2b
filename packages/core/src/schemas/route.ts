import net from 'node:net';
import { addCidr, compileExpr } from '../compile/vars-expr';
import { HTTP_METHODS, hostSchema, metadataProperties, pluginsSchema, timeoutSchema } from './common';
import { upstreamSchema } from './upstream';
import { idSchema } from './common';

export const routeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...metadataProperties,
    uri: { type: 'string', minLength: 1, maxLength: 4096 },
    uris: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 4096 } },
    methods: { type: 'array', uniqueItems: true, items: { enum: HTTP_METHODS } },
    host: hostSchema,
    hosts: { type: 'array', minItems: 1, uniqueItems: true, items: hostSchema },
    remote_addr: { type: 'string' },
    remote_addrs: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string' } },
    vars: { type: 'array' },
    priority: { type: 'integer' },
    status: { enum: [0, 1] },
    plugins: pluginsSchema,
    upstream: upstreamSchema,
    upstream_id: idSchema,
    service_id: idSchema,
    plugin_config_id: idSchema,
    enable_websocket: { type: 'boolean' },
    timeout: timeoutSchema,
    filter_func: { type: 'string' },
    script: { type: 'string' },
  },
};

/** Field combinations a JSON schema expresses badly; messages say exactly what is wrong. */
export function checkRouteRules(route: Record<string, unknown>): string | undefined {
  const has = (k: string) => route[k] !== undefined;
  if (has('uri') && has('uris')) return 'only one of uri and uris is allowed';
  if (!has('uri') && !has('uris')) return 'property "uri" is required (or "uris")';
  if (has('host') && has('hosts')) return 'only one of host and hosts is allowed';
  if (has('remote_addr') && has('remote_addrs')) return 'only one of remote_addr and remote_addrs is allowed';
  if (!['plugins', 'upstream', 'upstream_id', 'service_id', 'plugin_config_id'].some(has)) {
    return 'at least one of plugins, upstream, upstream_id or service_id is required';
  }
  if (has('upstream') && has('upstream_id')) return 'only one of upstream and upstream_id is allowed';
  // Addresses as the router's list takes them (APISIX's schema: IPv4, IPv6 or a CIDR of either).
  if (typeof route.remote_addr === 'string' && !isAddressOrCidr(route.remote_addr)) {
    return 'property "remote_addr" validation failed: object matches none of the required';
  }
  if (Array.isArray(route.remote_addrs)) {
    const bad = route.remote_addrs.findIndex((a) => typeof a === 'string' && !isAddressOrCidr(a));
    if (bad >= 0) return `property "remote_addrs" validation failed: failed to validate item ${bad + 1}: object matches none of the required`;
  }
  return undefined;
}

function isAddressOrCidr(s: string): boolean {
  try {
    addCidr(new net.BlockList(), s);
    return true;
  } catch {
    return false;
  }
}

/**
 * `vars` compiled by the router's own compile function (APISIX: `expr.new` in the routes'
 * check_conf, after the plugins). Returns the whole `error_msg`.
 */
export function checkRouteVars(route: Record<string, unknown>): string | undefined {
  if (route.vars === undefined) return undefined;
  try {
    compileExpr(route.vars);
  } catch (err) {
    return `failed to validate the 'vars' expression: ${(err as Error).message}`;
  }
  return undefined;
}
