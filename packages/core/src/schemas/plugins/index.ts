import { keyAuthPlugin } from './key-auth';
import { prometheusPlugin } from './prometheus';
import { checkProxyRewriteConf, proxyRewritePlugin } from './proxy-rewrite';
import { checkResponseRewriteConf, responseRewritePlugin } from './response-rewrite';
import { requestIdPlugin } from './request-id';
import { checkIpRestrictionConf, ipRestrictionPlugin } from './ip-restriction';
import { checkCorsConf, corsPlugin } from './cors';
import { checkLimitCountConf, limitCountPlugin } from './limit-count';
import { basicAuthPlugin } from './basic-auth';
import { jwtAuthPlugin } from './jwt-auth';
import { limitReqPlugin } from './limit-req';
import { limitConnPlugin } from './limit-conn';
import { checkRedisPolicy } from './limit-redis';

/**
 * Schemas of every plugin Portico knows. They live in core because both the admin API
 * (validation on write) and the data plane (validation on load) need them; the plugin
 * behaviour lives in the gateway package.
 */
export interface PluginDefinition {
  name: string;
  priority: number;
  /** `auth` plugins may appear on consumers and credentials. */
  type?: 'auth';
  schema: object;
  consumerSchema?: object;
  /** `/plugin_metadata/<name>` schema; absent: the plugin takes no metadata. */
  metadataSchema?: object;
  /**
   * Rules the schema cannot say, including everything the data plane's compile of the conf
   * could refuse (regexes, expressions, addresses: core/compile); returns the reason, or undefined.
   */
  check?: (conf: Record<string, unknown>) => string | undefined;
}

export const PLUGIN_DEFINITIONS: Record<string, PluginDefinition> = {
  [keyAuthPlugin.name]: keyAuthPlugin,
  [prometheusPlugin.name]: prometheusPlugin,
  [proxyRewritePlugin.name]: { ...proxyRewritePlugin, check: checkProxyRewriteConf },
  [responseRewritePlugin.name]: { ...responseRewritePlugin, check: checkResponseRewriteConf },
  [requestIdPlugin.name]: requestIdPlugin,
  [ipRestrictionPlugin.name]: { ...ipRestrictionPlugin, check: checkIpRestrictionConf },
  [corsPlugin.name]: { ...corsPlugin, check: checkCorsConf },
  [limitCountPlugin.name]: { ...limitCountPlugin, check: checkLimitCountConf },
  [basicAuthPlugin.name]: basicAuthPlugin,
  [jwtAuthPlugin.name]: jwtAuthPlugin,
  [limitReqPlugin.name]: { ...limitReqPlugin, check: checkRedisPolicy },
  [limitConnPlugin.name]: { ...limitConnPlugin, check: checkRedisPolicy },
};
