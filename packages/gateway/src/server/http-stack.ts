import { nativeParserAvailable, ownServerAvailable } from '@portico/http1';
import type { Logger } from '@portico/core';

/** Which HTTP/1.1 server answers the proxy port: Portico's own (@portico/http1) or node:http's. */
export type ServerChoice = 'own' | 'node';
/** Which client sends upstream requests: Portico's own (@portico/http1) or undici. */
export type ClientChoice = 'own' | 'undici';

/** `apisix.http` keys that choose the stack (config.yaml). */
export interface HttpStackConf {
  server?: ServerChoice;
  upstream_client?: ClientChoice;
}

const reported = new Set<string>();

/** Says a fallback once per process: every gateway of a process would otherwise repeat it. */
function reportOnce(log: Logger | undefined, key: string, msg: string): void {
  if (reported.has(key)) return;
  reported.add(key);
  log?.warn(msg);
}

/**
 * The server to use: `PORTICO_HTTP_SERVER` (own | node) overrides `apisix.http.server`
 * (default own). The own server needs Node internals (see packages/http1/README.md); when this
 * Node.js lacks them, node:http's server takes over and that is logged once at warn.
 */
export function chooseServer(conf: HttpStackConf | undefined, log?: Logger, env: NodeJS.ProcessEnv = process.env): ServerChoice {
  const fromEnv = env.PORTICO_HTTP_SERVER;
  const wanted: ServerChoice = fromEnv === 'node' || fromEnv === 'own' ? fromEnv : conf?.server ?? 'own';
  if (wanted === 'own' && !ownServerAvailable) {
    reportOnce(log, 'server', 'this Node.js lacks the internals of Portico\'s own HTTP/1.1 server: the proxy port uses node:http\'s server, which costs more CPU per request');
    return 'node';
  }
  return wanted;
}

/**
 * The upstream client to use: `PORTICO_UPSTREAM_CLIENT` (own | undici) overrides
 * `apisix.http.upstream_client` (default own); without node's parser binding, undici takes
 * over and that is logged once at warn.
 */
export function chooseClient(conf: HttpStackConf | undefined, log?: Logger, env: NodeJS.ProcessEnv = process.env): ClientChoice {
  const fromEnv = env.PORTICO_UPSTREAM_CLIENT;
  const wanted: ClientChoice = fromEnv === 'undici' || fromEnv === 'own' ? fromEnv : conf?.upstream_client ?? 'own';
  if (wanted === 'own' && !nativeParserAvailable) {
    reportOnce(log, 'client', 'this Node.js lacks node\'s HTTP parser binding (_http_common): upstreams use undici, which costs more CPU per request');
    return 'undici';
  }
  return wanted;
}
