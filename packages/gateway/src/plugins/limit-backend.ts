import { createHash } from 'node:crypto';
// Circular with the plugins (they import limitBackend); used only at call time, so safe.
import { CountWindows, groupWindows } from './count-windows';
import { LeakyBuckets } from './leaky-buckets';

/** One take from a fixed-window counter. `remaining` < 0: over the limit. */
export interface CountResult {
  remaining: number;
  resetMs: number;
  /** Set when the counter's store (Redis) failed: the error; remaining/resetMs mean nothing then. */
  failed?: unknown;
}

/** A limit-count counter set (one per conf): synchronous in-process, a Promise when it asks the primary. */
export interface CountLimiter {
  take(key: string): CountResult | Promise<CountResult>;
}

/** A limit's store (Redis) failed to answer: the error. */
export interface StoreFailure {
  failed: unknown;
}

/** A limit-req bucket set: the delay (ms) the request should wait, or -1 when over the burst. */
export interface ReqLimiter {
  take(key: string): number | Promise<number | StoreFailure>;
}

/**
 * Where the limit plugins keep their counters. In one process they are local (LocalLimits,
 * set in limits.ts); a proxy worker (`apisix.workers` > 1) counts in the primary so that a
 * limit is per node, as APISIX's shared dicts make it, not per worker.
 */
export interface LimitBackend {
  /** `id`: the conf's node-wide identity (limitId); `group`: limit-count's `group`. */
  count(id: string, limit: number, windowMs: number, group?: string): CountLimiter;
  req(id: string, rate: number, burst: number): ReqLimiter;
}

/** Counters in this process: the single-process node, and the primary of a node with workers. */
export const localLimits: LimitBackend = {
  count: (_id, limit, windowMs, group) => new CountWindows(limit, windowMs, Date.now, group !== undefined ? groupWindows(group) : undefined),
  req: (_id, rate, burst) => new LeakyBuckets(rate, burst),
};

let current: LimitBackend = localLimits;

/** The backend the limit plugins compile against. */
export function limitBackend(): LimitBackend {
  return current;
}

/** A proxy worker installs its primary-backed counters here, before any conf compiles. */
export function setLimitBackend(backend: LimitBackend): void {
  current = backend;
}

/**
 * The identity of a limit conf across a node's workers: its owner (scope), plugin and conf, or
 * `group:<name>` when limit-count's `group` makes confs share counters. Stable for an
 * unchanged conf, so a route change that keeps the conf keeps its counters.
 */
export function limitId(plugin: string, scope: string, conf: Record<string, unknown>, group?: string): string {
  if (group !== undefined) return `group:${group}`;
  // Never the Redis password (resolved from a reference, it is in the conf by now), not even
  // hashed: the id is part of Redis key names.
  const { redis_password: _password, ...hashed } = conf;
  return `${plugin}:${scope}:${createHash('sha1').update(JSON.stringify(hashed)).digest('base64url')}`;
}

/**
 * The answer of a limit plugin over its limit: `rejected_code` (default 503) with
 * `{"error_msg": rejected_msg}` when a message is set, an empty body otherwise (APISIX).
 */
export function limitRejection(conf: Record<string, unknown>): { status: number; body?: unknown; raw?: string } {
  return {
    status: (conf.rejected_code as number | undefined) ?? 503,
    ...(conf.rejected_msg !== undefined ? { body: { error_msg: conf.rejected_msg } } : { raw: '' }),
  };
}
