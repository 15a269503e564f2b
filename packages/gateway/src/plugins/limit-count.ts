import { PLUGIN_DEFINITIONS } from '@portico/core';
import type { RequestContext } from '../server/request-context';
import { redisTarget } from '../redis/stores';
import { limitBackend, limitId, limitRejection, type CountLimiter, type CountResult } from './limit-backend';
import { RedisCountLimiter, storeFailed } from './limit-redis';
import type { PhaseResult, Plugin, PluginResponse } from './types';
import { resolveVars } from './vars';

export { CountWindows, groupWindows } from './count-windows';

export interface LimitCountConf {
  limit: number;
  keyOf: (ctx: RequestContext) => string;
  windows: CountLimiter;
  showHeaders: boolean;
  rejected: Omit<PluginResponse, 'headers'>;
  /** Let requests through when the counter's store (Redis) fails. */
  degrade: boolean;
}

/** limit-count's answer when its Redis fails and it may not degrade (APISIX). */
const STORE_FAILED: PluginResponse = { status: 500, body: { error_msg: 'failed to limit count' } };

/**
 * limit-count: `count` requests per `time_window` seconds per key (default the client
 * address), counted on this node (`local` policy) or in Redis for every node naming it
 * (`redis`, `redis-cluster`: limit-redis.ts; when Redis fails, `allow_degradation` lets the
 * request through, else 500). Over the limit: `rejected_code` (503) with
 * `{"error_msg": rejected_msg}` when a message is set. X-RateLimit-Limit/-Remaining/-Reset go
 * on every response unless `show_limit_quota_header` is false. Counters live with the
 * compiled route, so a change to the route's plugins starts fresh windows; except with
 * `group`: every conf naming the same group (routes, services, consumers, consumer groups)
 * counts on one set of counters per key, which outlives route changes (APISIX keys them
 * `group:key`). The admin refuses a conf that differs from the group's (core's
 * checkLimitCountConf), so they all apply the same limit.
 */
export const limitCountPlugin: Plugin<LimitCountConf> = {
  name: 'limit-count',
  priority: PLUGIN_DEFINITIONS['limit-count'].priority,

  compile(conf, scope): LimitCountConf {
    const limit = conf.count as number;
    const keyType = (conf.key_type as string | undefined) ?? 'var';
    const key = (conf.key as string | undefined) ?? 'remote_addr';
    const group = typeof conf.group === 'string' ? conf.group : undefined;
    // A key that resolves to nothing falls back to the client address (APISIX).
    const keyOf = keyType === 'constant' ? () => key
      : keyType === 'var_combination' ? (ctx: RequestContext) => resolveVars(key, ctx) || ctx.remoteAddr
      : (ctx: RequestContext) => ctx.lookupVar(key) || ctx.remoteAddr;
    const id = limitId('limit-count', scope, conf, group);
    const windowMs = (conf.time_window as number) * 1000;
    const target = redisTarget(conf);
    return {
      limit,
      keyOf,
      windows: target ? new RedisCountLimiter(target, id, limit, windowMs) : limitBackend().count(id, limit, windowMs, group),
      showHeaders: conf.show_limit_quota_header !== false,
      rejected: limitRejection(conf),
      degrade: conf.allow_degradation === true,
    };
  },

  phases: {
    access(conf, ctx): PhaseResult | Promise<PhaseResult> {
      const taken = conf.windows.take(conf.keyOf(ctx));
      return taken instanceof Promise ? taken.then((r) => answer(conf, ctx, r)) : answer(conf, ctx, taken);
    },
  },
};

function answer(conf: LimitCountConf, ctx: RequestContext, { remaining, resetMs, failed }: CountResult): PhaseResult {
  if (failed !== undefined) return storeFailed('limit-count', conf.degrade, failed, STORE_FAILED);
  if (conf.showHeaders) {
    ctx.setResponseHeader('X-RateLimit-Limit', String(conf.limit));
    ctx.setResponseHeader('X-RateLimit-Remaining', String(Math.max(0, remaining)));
    ctx.setResponseHeader('X-RateLimit-Reset', String(Math.ceil(resetMs / 1000)));
  }
  return remaining < 0 ? conf.rejected : undefined;
}
