import { createHash, timingSafeEqual } from 'node:crypto';
import { PLUGIN_DEFINITIONS } from '@portico/core';
import type { RequestContext } from '../server/request-context';
import type { KeyOwner } from '../auth/consumer-index';
import { attachConsumer } from './key-auth';
import type { PhaseResult, Plugin, PluginResponse } from './types';

export interface BasicAuthConf {
  hideCredentials: boolean;
  anonymousConsumer?: string;
}

const CHALLENGE = 'Basic realm="basic"';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * basic-auth (APISIX 3.x). `Authorization: Basic base64(username:password)`; the username
 * finds the consumer or credential (ConsumerIndex, basic-auth table), the password is compared
 * in constant time with the configured one, which may be a secret reference (resolved through
 * the same cache as key-auth keys; an unresolvable one fails closed). Replies as APISIX:
 * `Missing authorization in request`, `Invalid authorization in request` (malformed header),
 * `Invalid user authorization` (unknown user or wrong password), all 401 with
 * `WWW-Authenticate: Basic realm="basic"`.
 *
 * Differs from APISIX on purpose: the password is everything after the FIRST colon
 * (RFC 7617; APISIX keeps only the second colon-separated field, and strips whitespace).
 */
export const basicAuthPlugin: Plugin<BasicAuthConf> = {
  name: 'basic-auth',
  priority: PLUGIN_DEFINITIONS['basic-auth'].priority,
  shareable: true,

  compile(conf): BasicAuthConf {
    return {
      hideCredentials: conf.hide_credentials === true,
      anonymousConsumer: typeof conf.anonymous_consumer === 'string' ? conf.anonymous_consumer : undefined,
    };
  },

  phases: {
    rewrite(conf, ctx): PhaseResult | Promise<PhaseResult> {
      const header = ctx.header('authorization');
      if (header === undefined) return reject(conf, ctx, 'Missing authorization in request');
      const creds = parseBasic(header);
      if (!creds) return reject(conf, ctx, 'Invalid authorization in request');
      const found = ctx.consumers.lookup(creds.username, 'basic-auth');
      if (found instanceof Promise) return found.then((owner) => checkPassword(conf, ctx, owner, creds.password));
      return checkPassword(conf, ctx, found, creds.password);
    },
  },
};

/** `Basic <base64(user:pass)>` → parts, or undefined when malformed. */
export function parseBasic(header: string): { username: string; password: string } | undefined {
  const m = /^\s*basic\s+(\S+)\s*$/i.exec(header);
  if (!m || !BASE64.test(m[1])) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function checkPassword(conf: BasicAuthConf, ctx: RequestContext, owner: KeyOwner | undefined, password: string): PhaseResult | Promise<PhaseResult> {
  if (!owner) return reject(conf, ctx, 'Invalid user authorization');
  const expected = ctx.consumers.resolveSecretField(owner.conf?.password);
  if (expected instanceof Promise) return expected.then((e) => finish(conf, ctx, owner, password, e));
  return finish(conf, ctx, owner, password, expected);
}

function finish(conf: BasicAuthConf, ctx: RequestContext, owner: KeyOwner, password: string, expected: string | undefined): PhaseResult {
  if (expected === undefined || !sameSecret(password, expected)) return reject(conf, ctx, 'Invalid user authorization');
  if (conf.hideCredentials) ctx.setUpstreamHeader('authorization', null);
  attachConsumer(ctx, owner);
  return undefined;
}

/** Constant-time comparison (hashing first, so lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** No usable credentials: the anonymous consumer if configured, else 401. */
function reject(conf: BasicAuthConf, ctx: RequestContext, message: string): PluginResponse | undefined {
  if (conf.anonymousConsumer !== undefined) {
    const consumer = ctx.consumers.getConsumer(conf.anonymousConsumer);
    if (!consumer) return { status: 401, body: { message: 'Invalid user authorization' } };
    attachConsumer(ctx, { username: consumer.username, consumer });
    return undefined;
  }
  return { status: 401, body: { message }, headers: { 'WWW-Authenticate': CHALLENGE } };
}
