import { randomUUID } from 'node:crypto';
import { componentLogger } from '@portico/core';
import { acquireRedisStore, describeTarget, type RedisStore, type RedisTarget } from '../redis/stores';
import type { CountLimiter, CountResult, ReqLimiter, StoreFailure } from './limit-backend';
import type { PluginResponse } from './types';

/**
 * The limit plugins' `redis` and `redis-cluster` policies: counters in Redis, shared by every
 * node (and worker) that names the same target, updated by the scripts in redis/scripts.ts.
 *
 * Keys: `portico:<plugin>:<conf identity>:<key>`, the conf identity being limitId's (scope,
 * plugin, conf digest; or `group:<name>`), which every node computes alike for one conf.
 */

const log = componentLogger('limit-redis');

/** What happened to requests while their limit's store failed (Prometheus, per plugin). */
const failures = new Map<string, { degraded: number; rejected: number }>();
/** plugin → when its last failure was logged (one line per plugin per interval, not per request) */
const lastLogged = new Map<string, { at: number; suppressed: number }>();
const LOG_INTERVAL_MS = 10_000;

/**
 * A limit could not consult its store (Redis unreachable, slower than redis_timeout, or an
 * error reply). With `allow_degradation` the request goes on unlimited; otherwise it gets
 * `refusal` (APISIX: limit-count 500 `failed to limit count`, limit-req/limit-conn a bare 500).
 * Counted and logged either way.
 */
export function storeFailed(plugin: string, degrade: boolean, err: unknown, refusal: PluginResponse): PluginResponse | undefined {
  let f = failures.get(plugin);
  if (!f) failures.set(plugin, (f = { degraded: 0, rejected: 0 }));
  if (degrade) f.degraded++;
  else f.rejected++;
  const now = Date.now();
  const l = lastLogged.get(plugin);
  if (!l || now - l.at >= LOG_INTERVAL_MS) {
    log.error({ plugin, err: (err as Error)?.message ?? String(err), since_last_log: l?.suppressed ?? 0, degraded: degrade },
      `failed to limit ${plugin.slice('limit-'.length)}: ${degrade ? 'request let through (allow_degradation)' : 'request refused'}`);
    lastLogged.set(plugin, { at: now, suppressed: 0 });
  } else {
    l.suppressed++;
  }
  return degrade ? undefined : refusal;
}

/** Prometheus lines for the store failures (rendered with the gateway's metrics). */
export function renderLimitStoreMetrics(out: string[]): void {
  out.push('# HELP portico_limit_store_failures_total Requests whose rate-limit store (Redis) failed or timed out, by plugin and outcome.',
    '# TYPE portico_limit_store_failures_total counter');
  for (const [plugin, f] of failures) {
    out.push(`portico_limit_store_failures_total{plugin="${plugin}",outcome="degraded"} ${f.degraded}`,
      `portico_limit_store_failures_total{plugin="${plugin}",outcome="rejected"} ${f.rejected}`);
  }
}

/** The Redis key of one limit key of a conf. */
function redisKey(plugin: string, id: string, key: string): string {
  return `portico:${plugin}:${id}:${key}`;
}

/** limit-count on Redis: one script call per request. */
export class RedisCountLimiter implements CountLimiter {
  readonly store: RedisStore;

  constructor(target: RedisTarget, private readonly id: string, private readonly limit: number, private readonly windowMs: number) {
    this.store = acquireRedisStore(target, this);
  }

  take(key: string): Promise<CountResult> {
    return this.store.run((c) => c.porticoCount(redisKey('limit-count', this.id, key), this.limit, this.windowMs, 1)).then(
      ([used, ttl]) => ({ remaining: this.limit - Number(used), resetMs: Number(ttl) }),
      (err: unknown) => ({ remaining: 0, resetMs: 0, failed: err }),
    );
  }
}

/** limit-req on Redis: the delay (ms) to wait, -1 over the burst, or the failure. */
export class RedisReqLimiter implements ReqLimiter {
  readonly store: RedisStore;

  constructor(target: RedisTarget, private readonly id: string, private readonly rate: number, private readonly burst: number) {
    this.store = acquireRedisStore(target, this);
  }

  take(key: string): Promise<number | StoreFailure> {
    return this.store.run((c) => c.porticoReq(redisKey('limit-req', this.id, key), this.rate, this.burst)).then(
      ([admitted, excess]) => (Number(admitted) === 1 ? (Number(excess) / this.rate) * 1000 : -1),
      (err: unknown) => ({ failed: err }),
    );
  }
}

/** One request admitted by limit-conn: release it when the request is done. */
export interface ConnTicket {
  /** requests in flight for the key, this one included */
  conn: number;
  release(): void;
}

/** limit-conn on Redis: a member per request in flight, removed when it finishes. */
export class RedisConnLimiter {
  readonly store: RedisStore;

  constructor(target: RedisTarget, private readonly id: string, private readonly max: number, private readonly ttlS: number) {
    this.store = acquireRedisStore(target, this);
  }

  /** The ticket, null over the limit, or the failure. */
  acquire(key: string): Promise<ConnTicket | null | StoreFailure> {
    const rkey = redisKey('limit-conn', this.id, key);
    const member = randomUUID();
    return this.store.run((c) => c.porticoConnAcquire(rkey, this.max, this.ttlS, member)).then(
      ([admitted, conn]) => (Number(admitted) === 1 ? { conn: Number(conn), release: () => this.release(rkey, member) } : null),
      (err: unknown) => ({ failed: err }),
    );
  }

  private release(rkey: string, member: string): void {
    // A failed release leaves the member until its ttl (key_ttl) passes: logged, not retried.
    this.store.run((c) => c.zrem(rkey, member)).catch((err: unknown) => {
      log.warn({ target: describeTarget(this.store.target), err: (err as Error)?.message }, 'limit-conn: failed to release a request slot in redis; it expires after key_ttl');
    });
  }
}
