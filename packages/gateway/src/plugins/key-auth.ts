import { PLUGIN_DEFINITIONS } from '@portico/core';
import { CONSUMER_CREDENTIAL, CONSUMER_USERNAME, type RequestContext } from '../server/request-context';
import type { KeyOwner } from '../auth/consumer-index';
import type { PhaseResult, Plugin, PluginResponse } from './types';

export interface KeyAuthConf {
  /** lower-cased */
  header: string;
  query: string;
  hideCredentials: boolean;
  anonymousConsumer?: string;
  /** WWW-Authenticate value for 401 replies */
  challenge: string;
}

/**
 * key-auth (SPEC §8). The key is taken from the header (default `apikey`), else from the query
 * argument (default `apikey`), and looked up in the ConsumerIndex (literal keys and resolved
 * secret references). On success the consumer is attached and the upstream receives
 * `X-Consumer-Username` and, for a credential, `X-Credential-Identifier`.
 */
export const keyAuthPlugin: Plugin<KeyAuthConf> = {
  name: 'key-auth',
  priority: PLUGIN_DEFINITIONS['key-auth'].priority,
  shareable: true,

  compile(conf): KeyAuthConf {
    return {
      header: String(conf.header ?? 'apikey').toLowerCase(),
      query: String(conf.query ?? 'apikey'),
      hideCredentials: conf.hide_credentials === true,
      anonymousConsumer: typeof conf.anonymous_consumer === 'string' ? conf.anonymous_consumer : undefined,
      challenge: `apikey realm="${typeof conf.realm === 'string' ? conf.realm : 'key'}"`,
    };
  },

  phases: {
    rewrite(conf, ctx): PhaseResult | Promise<PhaseResult> {
      let key = ctx.header(conf.header);
      let fromHeader = true;
      if (key === undefined) {
        key = ctx.arg(conf.query);
        fromHeader = false;
      }
      if (key === undefined) return reject(conf, ctx, 'Missing API key in request');
      const found = ctx.consumers.lookup(key);
      if (found instanceof Promise) return found.then((owner) => accept(conf, ctx, owner, fromHeader));
      return accept(conf, ctx, found, fromHeader);
    },
  },
};

function accept(conf: KeyAuthConf, ctx: RequestContext, owner: KeyOwner | undefined, fromHeader: boolean): PhaseResult {
  if (!owner) return reject(conf, ctx, 'Invalid API key in request');
  if (conf.hideCredentials) {
    if (fromHeader) ctx.setUpstreamHeader(conf.header, null);
    else ctx.removeArg(conf.query);
  }
  attachConsumer(ctx, owner);
  return undefined;
}

/** No usable key: the anonymous consumer if configured, else 401. */
function reject(conf: KeyAuthConf, ctx: RequestContext, message: string): PluginResponse | undefined {
  if (conf.anonymousConsumer !== undefined) {
    const consumer = ctx.consumers.getConsumer(conf.anonymousConsumer);
    if (!consumer) return { status: 401, body: { message: 'Invalid user authorization' } };
    attachConsumer(ctx, { username: consumer.username, consumer });
    return undefined;
  }
  return { status: 401, body: { message }, headers: { 'WWW-Authenticate': conf.challenge } };
}

/**
 * The request is the consumer's: its name and credential go upstream from `ctx.consumer`
 * (Forwarding.buildHeaders), not as header overrides, which made a Map per request for two
 * values fixed per consumer. A value an earlier plugin set for those headers gives way to them,
 * as a later plugin's replaces them.
 */
export function attachConsumer(ctx: RequestContext, owner: KeyOwner): void {
  ctx.consumer = owner;
  ctx.headerOverrides?.delete(CONSUMER_USERNAME);
  ctx.headerOverrides?.delete(CONSUMER_CREDENTIAL);
}
