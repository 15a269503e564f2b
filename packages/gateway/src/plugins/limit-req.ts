import { PLUGIN_DEFINITIONS } from '@portico/core';
import type { RequestContext } from '../server/request-context';
import { redisTarget } from '../redis/stores';
import { limitBackend, limitId, limitRejection, type ReqLimiter, type StoreFailure } from './limit-backend';
import { RedisReqLimiter, storeFailed } from './limit-redis';
import type { PhaseResult, Plugin, PluginResponse } from './types';
import { resolveVars } from './vars';

interface Bucket {
  /** requests queued above the steady rate, after draining up to `last` */
  excess: number;
  /** ms epoch of the last accepted request */
  last: number;
}

/**
 * Leaky buckets per key, like resty.limit.req behind APISIX's limit-req: each accepted request
 * adds one, the bucket drains `rate` per second; a request that would take it above `burst` is
 * rejected (and not counted). The answer is how long the accepted request should wait so the
 * upstream sees at most `rate` per second. Drained buckets are swept when the map has doubled
 * since the last sweep, so memory follows the number of active keys.
 */
export class LeakyBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private sweepAt = 1024;

  constructor(private readonly rate: number, private readonly burst: number, private readonly now: () => number = Date.now) {}

  /** The delay (ms) the request should wait, or -1 when it is over the burst. */
  take(key: string): number {
    const now = this.now();
    const b = this.buckets.get(key);
    const excess = b ? Math.max(b.excess - (this.rate * Math.abs(now - b.last)) / 1000 + 1, 0) : 0;
    if (excess > this.burst) return -1;
    if (b) {
      b.excess = excess;
      b.last = now;
    } else {
      if (this.buckets.size >= this.sweepAt) this.sweep(now);
      this.buckets.set(key, { excess, last: now });
    }
    return (excess / this.rate) * 1000;
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    for (const [k, b] of this.buckets) if (b.excess - (this.rate * (now - b.last)) / 1000 <= 0) this.buckets.delete(k);
    this.sweepAt = Math.max(1024, this.buckets.size * 2);
  }
}

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
