import { PLUGIN_DEFINITIONS } from '@portico/core';
import type { RequestContext } from '../server/request-context';
import { redisTarget } from '../redis/stores';
import { limitBackend, limitId, limitRejection, type ReqLimiter, type StoreFailure } from './limit-backend';
import { RedisReqLimiter, storeFailed } from './limit-redis';
import type { PhaseResult, Plugin, PluginResponse } from './types';
import { resolveVars } from './vars';

export { LeakyBuckets } from './leaky-buckets';

export interface LimitReqConf {
  keyOf: (ctx: RequestContext) => string;
  buckets: ReqLimiter;
  nodelay: boolean;
  rejected: PluginResponse;
  /** Let requests through when the bucket's store (Redis) fails. */
  degrade: boolean;
}

/** limit-req's answer when its Redis fails and it may not degrade (APISIX: a bare 500). */
const STORE_FAILED: PluginResponse = { status: 500, raw: '' };

/**
 * limit-req: `rate` requests per second per key with `burst` queued above it, counted on this
 * node (`local` policy) or in Redis for every node naming it (`redis`, `redis-cluster`:
 * limit-redis.ts; when Redis fails, `allow_degradation` lets the request through, else 500).
 * Requests within the burst are delayed to the steady rate unless `nodelay`; over it:
 * `rejected_code` (503), with `{"error_msg": rejected_msg}` when a message is set. A key that
 * resolves to nothing falls back to the client address (APISIX). Buckets live with the compiled
 * route (or consumer), so a change to its plugins starts fresh.
 */
export const limitReqPlugin: Plugin<LimitReqConf> = {
  name: 'limit-req',
  priority: PLUGIN_DEFINITIONS['limit-req'].priority,

  compile(conf, scope): LimitReqConf {
    const key = conf.key as string;
    const keyOf = conf.key_type === 'var_combination'
      ? (ctx: RequestContext) => resolveVars(key, ctx) || ctx.remoteAddr
      : (ctx: RequestContext) => ctx.lookupVar(key) || ctx.remoteAddr;
    const id = limitId('limit-req', scope, conf);
    const target = redisTarget(conf);
    return {
      keyOf,
      buckets: target ? new RedisReqLimiter(target, id, conf.rate as number, conf.burst as number) : limitBackend().req(id, conf.rate as number, conf.burst as number),
      nodelay: conf.nodelay === true,
      rejected: limitRejection(conf),
      degrade: conf.allow_degradation === true,
    };
  },

  phases: {
    access(conf, ctx): PhaseResult | Promise<PhaseResult> {
      const delay = conf.buckets.take(conf.keyOf(ctx));
      return typeof delay === 'number' ? wait(conf, delay) : delay.then((d) => wait(conf, d));
    },
  },
};

function wait(conf: LimitReqConf, delay: number | StoreFailure): PhaseResult | Promise<PhaseResult> {
  if (typeof delay !== 'number') return storeFailed('limit-req', conf.degrade, delay.failed, STORE_FAILED);
  if (delay < 0) return conf.rejected;
  // resty.limit.req: delays under a millisecond are not worth a timer.
  if (conf.nodelay || delay < 1) return undefined;
  return new Promise<PhaseResult>((resolve) => setTimeout(resolve, delay));
}
