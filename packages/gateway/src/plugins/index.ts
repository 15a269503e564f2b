import { keyAuthPlugin } from './key-auth';
import { corsPlugin } from './cors';
import { ipRestrictionPlugin } from './ip-restriction';
import { limitCountPlugin } from './limit-count';
import { proxyRewritePlugin } from './proxy-rewrite';
import { requestIdPlugin } from './request-id';
import { responseRewritePlugin } from './response-rewrite';
import { basicAuthPlugin } from './basic-auth';
import { jwtAuthPlugin } from './jwt-auth';
import { limitReqPlugin } from './limit-req';
import { limitConnPlugin } from './limit-conn';
import { prometheusPlugin } from './prometheus';
import type { AnyPlugin } from './types';

export * from './types';
export { PluginChain } from './pipeline';
export { keyAuthPlugin, attachConsumer, type KeyAuthConf } from './key-auth';

/** Every plugin the data plane implements, by name. Register new plugins here. */
export const BUILTIN_PLUGINS: ReadonlyMap<string, AnyPlugin> = new Map<string, AnyPlugin>(
  [keyAuthPlugin, proxyRewritePlugin, responseRewritePlugin, requestIdPlugin, ipRestrictionPlugin, corsPlugin, limitCountPlugin,
    basicAuthPlugin, jwtAuthPlugin, limitReqPlugin, limitConnPlugin, prometheusPlugin].map((p) => [p.name, p]),
);
