import { metadataProperties, pluginsSchema } from './common';

/**
 * Resources that are a set of plugins plus metadata (SPEC §4): `/global_rules/<id>` run on
 * every request, `/plugin_configs/<id>` are merged into routes naming them, and
 * `/consumer_groups/<id>` apply to consumers naming them in `group_id`. `plugins` is required,
 * as in APISIX: without it the item means nothing.
 */
function pluginSetSchema() {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['plugins'],
    properties: { ...metadataProperties, plugins: pluginsSchema },
  };
}

export const globalRuleSchema = pluginSetSchema();
export const pluginConfigSchema = pluginSetSchema();
export const consumerGroupSchema = pluginSetSchema();
