import { PLUGIN_DEFINITIONS } from '@portico/core';
import type { RequestContext } from '../server/request-context';
import type { KeyOwner } from '../auth/consumer-index';
import { claimsValid, parseJwt, verifySignature, type ParsedJwt } from './jwt';
import { attachConsumer } from './key-auth';
import type { PhaseResult, Plugin, PluginResponse } from './types';

export interface JwtAuthConf {
  /** lower-cased */
  header: string;
  query: string;
  cookie: string;
  hideCredentials: boolean;
  keyClaim: string;
  anonymousConsumer?: string;
}

type Source = 'header' | 'query' | 'cookie';

/**
 * jwt-auth (APISIX 3.x). The token comes from the header (default `authorization`, an optional
 * `Bearer ` prefix dropped), else the query argument (default `jwt`), else the cookie (default
 * `jwt`). Its `key` claim (`key_claim_name`) finds the consumer or credential (ConsumerIndex,
 * jwt-auth table); the signature is verified with that owner's `secret` (HS256, optionally
 * base64) or `public_key` (RS256) — either may be a secret reference — and `exp`/`nbf` are
 * checked with `lifetime_grace_period`. Replies as APISIX 3.x, all 401:
 * `Missing JWT token in request`, `JWT token invalid`, `missing user key in JWT token`,
 * `Invalid user key in JWT token`, `failed to verify jwt`.
 */
export const jwtAuthPlugin: Plugin<JwtAuthConf> = {
  name: 'jwt-auth',
  priority: PLUGIN_DEFINITIONS['jwt-auth'].priority,
  shareable: true,

  compile(conf): JwtAuthConf {
    return {
      header: String(conf.header ?? 'authorization').toLowerCase(),
      query: String(conf.query ?? 'jwt'),
      cookie: String(conf.cookie ?? 'jwt'),
      hideCredentials: conf.hide_credentials === true,
      keyClaim: String(conf.key_claim_name ?? 'key'),
      anonymousConsumer: typeof conf.anonymous_consumer === 'string' ? conf.anonymous_consumer : undefined,
    };
  },

  phases: {
    rewrite(conf, ctx): PhaseResult | Promise<PhaseResult> {
      const found = fetchToken(conf, ctx);
      if (!found) return reject(conf, ctx, 'Missing JWT token in request');
      const jwt = parseJwt(found.token);
      if (!jwt) return reject(conf, ctx, 'JWT token invalid');
      const userKey = jwt.payload[conf.keyClaim];
      if (typeof userKey !== 'string' || userKey === '') return reject(conf, ctx, 'missing user key in JWT token');
      const owner = ctx.consumers.lookup(userKey, 'jwt-auth');
      if (owner instanceof Promise) return owner.then((o) => verifyFor(conf, ctx, jwt, o, found.source));
      return verifyFor(conf, ctx, jwt, owner, found.source);
    },
  },
};

function fetchToken(conf: JwtAuthConf, ctx: RequestContext): { token: string; source: Source } | undefined {
  const header = ctx.header(conf.header);
  if (header !== undefined) {
    const token = /^bearer /i.test(header) ? header.slice(7) : header;
    return { token: token.trim(), source: 'header' };
  }
  const arg = ctx.arg(conf.query);
  if (arg !== undefined) return { token: arg, source: 'query' };
  const cookie = ctx.lookupVar(`cookie_${conf.cookie}`);
  return cookie !== undefined ? { token: cookie, source: 'cookie' } : undefined;
}

function verifyFor(conf: JwtAuthConf, ctx: RequestContext, jwt: ParsedJwt, owner: KeyOwner | undefined, source: Source): PhaseResult | Promise<PhaseResult> {
  if (!owner) return reject(conf, ctx, 'Invalid user key in JWT token');
  const algorithm = owner.conf?.algorithm === 'RS256' ? 'RS256' : 'HS256';
  const material = ctx.consumers.resolveSecretField(algorithm === 'RS256' ? owner.conf?.public_key : owner.conf?.secret);
  const finish = (m: string | undefined): PhaseResult => {
    // An unresolvable secret fails closed, with APISIX's generic message.
    if (m === undefined) return reject(conf, ctx, 'failed to verify jwt');
    const key = algorithm === 'HS256' && owner.conf?.base64_secret === true ? Buffer.from(m, 'base64') : m;
    const grace = typeof owner.conf?.lifetime_grace_period === 'number' ? owner.conf.lifetime_grace_period : 0;
    if (!verifySignature(jwt, algorithm, key) || !claimsValid(jwt.payload, Date.now() / 1000, grace)) {
      return reject(conf, ctx, 'failed to verify jwt');
    }
    if (conf.hideCredentials) hide(conf, ctx, source);
    attachConsumer(ctx, owner);
    return undefined;
  };
  return material instanceof Promise ? material.then(finish) : finish(material);
}

/** Removes the source that carried the token before proxying. */
function hide(conf: JwtAuthConf, ctx: RequestContext, source: Source): void {
  if (source === 'header') ctx.setUpstreamHeader(conf.header, null);
  else if (source === 'query') ctx.removeArg(conf.query);
  else {
    const rest = (ctx.header('cookie') ?? '').split(';').filter((c) => c.split('=')[0].trim() !== conf.cookie).map((c) => c.trim());
    ctx.setUpstreamHeader('cookie', rest.length > 0 ? rest.join('; ') : null);
  }
}

/** No valid token: the anonymous consumer if configured, else 401. */
function reject(conf: JwtAuthConf, ctx: RequestContext, message: string): PluginResponse | undefined {
  if (conf.anonymousConsumer !== undefined) {
    const consumer = ctx.consumers.getConsumer(conf.anonymousConsumer);
    if (!consumer) return { status: 401, body: { message: 'Invalid user authorization' } };
    attachConsumer(ctx, { username: consumer.username, consumer });
    return undefined;
  }
  return { status: 401, body: { message } };
}
