import { keyAuthPlugin } from './key-auth';
import type { Plugin } from './types';

export * from './types';
export { PluginChain } from './pipeline';
export { keyAuthPlugin, attachConsumer, type KeyAuthConf } from './key-auth';

/** Every plugin the data plane implements, by name. Register new plugins here. */
export const BUILTIN_PLUGINS: ReadonlyMap<string, Plugin<any>> = new Map<string, Plugin<any>>(
  [keyAuthPlugin].map((p) => [p.name, p]),
);
