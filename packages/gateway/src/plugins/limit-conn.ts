import { PLUGIN_DEFINITIONS } from '@portico/core';
import type { RequestContext } from '../server/request-context';
import { redisTarget } from '../redis/stores';
import { limitId, limitRejection, type StoreFailure } from './limit-backend';
import { RedisConnLimiter, storeFailed, type ConnTicket } from './limit-redis';
import type { PhaseResult, Plugin, PluginResponse } from './types';
import { resolveVars } from './vars';

/**
 * Requests in flight per key in this process, like resty.limit.conn behind APISIX's local
 * limit-conn: a request over `max + burst` is rejected and not counted.
 */
export class ConnCounters {
  private readonly counts = new Map<string, number>();

  constructor(private readonly limit: number) {}

  acquire(key: string): ConnTicket | null {
    const conn = (this.counts.get(key) ?? 0) + 1;
    if (conn > this.limit) return null;
    this.counts.set(key, conn);
    let released = false;
    return {
      conn,
      release: () => {
        if (released) return;
        released = true;
        const n = (this.counts.get(key) ?? 1) - 1;
        if (n <= 0) this.counts.delete(key);
        else this.counts.set(key, n);
      },
    };
  }

  inFlight(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

export interface LimitConnConf {
  keyOf: (ctx: RequestContext) => string;
  max: number;
  counters: { acquire(key: string): ConnTicket | null | Promise<ConnTicket | null | StoreFailure> };
  /**
   * ms a request waits per `max` it is over: default_conn_delay, then (unless
   * only_use_default_delay) the running average with each finished request's latency.
   */
  unitDelay: { ms: number };
  adaptDelay: boolean;
  rejected: PluginResponse;
  degrade: boolean;
}

/** limit-conn's answer when its Redis fails and it may not degrade (APISIX: a bare 500). */
const STORE_FAILED: PluginResponse = { status: 500, raw: '' };

/**
 * limit-conn: at most `conn` requests in flight per key; up to `burst` more are admitted but
 * delayed (default_conn_delay × how many `conn` they are over, adapted to measured latencies
 * unless only_use_default_delay), the rest get `rejected_code` (503). A request counts from its
 * access phase until its response is finished or abandoned. Counted in this process (`local`;
 * per worker with `apisix.workers` > 1) or in Redis for every node naming it (`redis`,
 * `redis-cluster`: limit-redis.ts; when Redis fails, `allow_degradation` lets the request
 * through, else 500).
 */
export const limitConnPlugin: Plugin<LimitConnConf> = {
  name: 'limit-conn',
  priority: PLUGIN_DEFINITIONS['limit-conn'].priority,

  compile(conf, scope): LimitConnConf {
    const key = conf.key as string;
    const keyOf = conf.key_type === 'var_combination'
      ? (ctx: RequestContext) => resolveVars(key, ctx) || ctx.remoteAddr
      : (ctx: RequestContext) => ctx.lookupVar(key) || ctx.remoteAddr;
    const max = conf.conn as number;
    const limit = max + (conf.burst as number);
    const target = redisTarget(conf);
    return {
      keyOf,
      max,
      counters: target
        ? new RedisConnLimiter(target, limitId('limit-conn', scope, conf), limit, (conf.key_ttl as number | undefined) ?? 3600)
        : new ConnCounters(limit),
      unitDelay: { ms: (conf.default_conn_delay as number) * 1000 },
      adaptDelay: conf.only_use_default_delay !== true,
      rejected: limitRejection(conf),
      degrade: conf.allow_degradation === true,
    };
  },

  phases: {
    access(conf, ctx): PhaseResult | Promise<PhaseResult> {
      // Listen before anything can wait: a client that leaves while the slot is being taken
      // must still give it back.
      const req: InFlight = { conf, ticket: undefined, closed: false, started: 0 };
      ctx.res.once('close', () => done(req));
      const got = conf.counters.acquire(conf.keyOf(ctx));
      return got instanceof Promise ? got.then((t) => admit(req, t)) : admit(req, got);
    },
  },
};

interface InFlight {
  conf: LimitConnConf;
  ticket: ConnTicket | undefined;
  closed: boolean;
  /** ms epoch when the request went on (after its delay) */
  started: number;
}

function admit(req: InFlight, got: ConnTicket | null | StoreFailure): PhaseResult | Promise<PhaseResult> {
  const { conf } = req;
  if (got === null) return conf.rejected;
  if ('failed' in got) return storeFailed('limit-conn', conf.degrade, got.failed, STORE_FAILED);
  req.ticket = got;
  if (req.closed) {
    done(req);
    return undefined;
  }
  const delay = got.conn > conf.max ? conf.unitDelay.ms * Math.floor((got.conn - 1) / conf.max) : 0;
  if (delay < 1) {
    req.started = Date.now();
    return undefined;
  }
  return new Promise<PhaseResult>((resolve) => setTimeout(() => {
    req.started = Date.now();
    resolve(undefined);
  }, delay));
}

/** The response is done (or abandoned): the slot is free; its latency tunes the delay. */
function done(req: InFlight): void {
  req.closed = true;
  const t = req.ticket;
  if (!t) return;
  req.ticket = undefined;
  t.release();
  if (req.conf.adaptDelay && req.started > 0) {
    req.conf.unitDelay.ms = (Date.now() - req.started + req.conf.unitDelay.ms) / 2;
  }
}
