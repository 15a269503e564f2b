import type { Plugin } from './types';

/**
 * The `prometheus` plugin (APISIX priority 500). In APISIX, enabling it on a route (or a
 * global rule) is what makes that route's requests exported. Portico records every route
 * anyway (the counters cost a Map update per request), so the plugin only has to be accepted:
 * configurations written for APISIX keep loading. `prefer_name` is accepted and ignored
 * (route ids are the label). **Portico differs**: routes without the plugin are exported too.
 */
export const prometheusPlugin: Plugin<Record<string, unknown>> = {
  name: 'prometheus',
  priority: 500,
  shareable: true,
  phases: {},
};
