import { hostSchema, idSchema, metadataProperties, pluginsSchema, timeoutSchema } from './common';
import { upstreamSchema } from './upstream';

/**
 * `/services/<id>` (APISIX `schema_def.service`): plugins and an upstream shared by the routes
 * that name it in `service_id`. A route overrides what it sets itself (SPEC §6).
 */
export const serviceSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...metadataProperties,
    plugins: pluginsSchema,
    upstream: upstreamSchema,
    upstream_id: idSchema,
    hosts: { type: 'array', minItems: 1, uniqueItems: true, items: hostSchema },
    enable_websocket: { type: 'boolean' },
    timeout: timeoutSchema,
    script: { type: 'string', minLength: 10, maxLength: 102400 },
  },
};

/** Field combinations the schema expresses badly (same wording as the route rules). */
export function checkServiceRules(service: Record<string, unknown>): string | undefined {
  if (service.upstream !== undefined && service.upstream_id !== undefined) return 'only one of upstream and upstream_id is allowed';
  return undefined;
}
