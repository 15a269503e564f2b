import { PLUGIN_DEFINITIONS } from '@portico/core';
import type { RequestContext } from '../server/request-context';
import { redisTarget } from '../redis/stores';
import { limitBackend, limitId, limitRejection, type CountLimiter, type CountResult } from './limit-backend';
import { RedisCountLimiter, storeFailed } from './limit-redis';
import type { PhaseResult, Plugin, PluginResponse } from './types';
import { resolveVars } from './vars';

interface Window {
  used: number;
  /** ms epoch when this window ends and the quota is whole again */
  resetAt: number;
}

/**
 * Fixed windows per key, like resty.limit.count behind APISIX's `local` policy: a key's window
 * starts at its first request. Expired windows are swept when the map has grown by its own
 * size since the last sweep, so memory follows the number of active keys, not of all keys seen.
 */
export class CountWindows {
  private sweepAt = 1024;

  /**
   * `windows` is shared by the confs of one `group` (their counters are one); by default each
   * instance has its own.
   */
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly windows: Map<string, Window> = new Map(),
  ) {}

  /** Takes one from the key's quota. `remaining` < 0 means the request is over the limit. */
  take(key: string): CountResult {
    const g = this.grant(key, 1);
    return { remaining: g.granted === 1 ? g.remaining : -1, resetMs: g.resetMs };
  }

  /**
   * Takes up to `want` from the key's quota at once (a worker's lease, see workers/limits.ts):
   * how many were granted and what is left after them.
   */
  grant(key: string, want: number): { granted: number; remaining: number; resetMs: number } {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size >= this.sweepAt) this.sweep(now);
      w = { used: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    const granted = Math.max(0, Math.min(want, this.limit - w.used));
    w.used += granted;
    return { granted, remaining: this.limit - w.used, resetMs: w.resetAt - now };
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
    this.sweepAt = Math.max(1024, this.windows.size * 2);
  }
}

/**
 * The counters of each `group` in this process (one node): held weakly, so a group's counters
 * live while some compiled conf of the group does — across rebuilds of its routes, as
 * APISIX's `group:key` counters do — and go when the last route of the group is gone.
 */
const groups = new Map<string, WeakRef<Map<string, Window>>>();

export function groupWindows(group: string): Map<string, Window> {
  let windows = groups.get(group)?.deref();
  if (!windows) {
    // Amortised sweep of groups whose confs were all dropped.
    if (groups.size >= 64 && (groups.size & (groups.size - 1)) === 0) {
      for (const [g, ref] of groups) if (!ref.deref()) groups.delete(g);
    }
    windows = new Map();
    groups.set(group, new WeakRef(windows));
  }
  return windows;
}

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
