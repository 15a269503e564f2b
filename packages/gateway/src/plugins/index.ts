import { keyAuthPlugin } from './key-auth';
import { corsPlugin } from './cors';
import { ipRestrictionPlugin } from './ip-restriction';
import { limitCountPlugin } from './limit-count';
import { proxyRewritePlugin } from './proxy-rewrite';
import { requestIdPlugin } from './request-id';
import { responseRewritePlugin } from './response-rewrite';
import type { Plugin } from './types';

export * from './types';
export { PluginChain } from './pipeline';
export { keyAuthPlugin, attachConsumer, type KeyAuthConf } from './key-auth';

/** Every plugin the data plane implements, by name. Register new plugins here. */
export const BUILTIN_PLUGINS: ReadonlyMap<string, Plugin<any>> = new Map<string, Plugin<any>>(
  [keyAuthPlugin, proxyRewritePlugin, responseRewritePlugin, requestIdPlugin, ipRestrictionPlugin, corsPlugin, limitCountPlugin].map((p) => [p.name, p]),
);
