import { idSchema, timestampSchema } from './common';
import { PLUGIN_DEFINITIONS } from './plugins';

/**
 * `/plugin_metadata/<plugin>`: settings shared by every use of one plugin. The schema is the
 * plugin's own `metadataSchema`; a plugin without one accepts an empty object only (as APISIX
 * injects for such plugins). `id` is the plugin name. Undefined for an unknown plugin.
 */
export function pluginMetadataSchema(plugin: string): object | undefined {
  if (!Object.hasOwn(PLUGIN_DEFINITIONS, plugin)) return undefined;
  const own = PLUGIN_DEFINITIONS[plugin].metadataSchema as { properties?: object } | undefined;
  const cached = cache.get(plugin);
  if (cached) return cached;
  const schema = {
    type: 'object',
    additionalProperties: false,
    ...own,
    properties: { ...own?.properties, id: idSchema, create_time: timestampSchema, update_time: timestampSchema },
  };
  cache.set(plugin, schema);
  return schema;
}

/** One object per plugin, so the validator compiles each schema once. */
const cache = new Map<string, object>();
