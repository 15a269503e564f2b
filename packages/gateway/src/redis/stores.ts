import { createHash } from 'node:crypto';
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import { componentLogger } from '@portico/core';
import { LIMIT_SCRIPTS } from './scripts';

/**
 * Where a limit plugin keeps its counters when its policy is `redis` or `redis-cluster`: the
 * conf's Redis fields (APISIX names), normalised. Two confs naming the same target share one
 * connection (RedisStore).
 */
export type RedisTarget =
  | { kind: 'single'; host: string; port: number; username?: string; password?: string; database: number; tls: boolean; tlsVerify: boolean; timeoutMs: number }
  | { kind: 'cluster'; name: string; nodes: Array<{ host: string; port: number }>; password?: string; tls: boolean; tlsVerify: boolean; timeoutMs: number };

/** The target a limit conf names, or undefined for `policy: local` (or no policy). */
export function redisTarget(conf: Record<string, unknown>): RedisTarget | undefined {
  const timeoutMs = (conf.redis_timeout as number | undefined) ?? 1000;
  // An empty password means none (APISIX only AUTHs with a non-empty one).
  const password = typeof conf.redis_password === 'string' && conf.redis_password !== '' ? conf.redis_password : undefined;
  if (conf.policy === 'redis') {
    return {
      kind: 'single',
      host: conf.redis_host as string,
      port: (conf.redis_port as number | undefined) ?? 6379,
      username: conf.redis_username as string | undefined,
      password,
      database: (conf.redis_database as number | undefined) ?? 0,
      tls: conf.redis_ssl === true,
      tlsVerify: conf.redis_ssl_verify === true,
      timeoutMs,
    };
  }
  if (conf.policy === 'redis-cluster') {
    return {
      kind: 'cluster',
      name: (conf.redis_cluster_name as string | undefined) ?? '',
      nodes: (conf.redis_cluster_nodes as string[]).map(parseNode),
      password,
      tls: conf.redis_cluster_ssl === true,
      tlsVerify: conf.redis_cluster_ssl_verify === true,
      timeoutMs,
    };
  }
  return undefined;
}

function parseNode(node: string): { host: string; port: number } {
  const colon = node.lastIndexOf(':');
  const host = node.slice(0, colon);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(node.slice(colon + 1)) };
}

/** Registry key of a target: its fields, with a digest in place of the password. */
function targetKey(t: RedisTarget): string {
  const digest = t.password === undefined ? '' : createHash('sha256').update(t.password).digest('base64url');
  return JSON.stringify({ ...t, password: digest });
}

/** Where a target is, for logs: never a credential. */
export function describeTarget(t: RedisTarget): string {
  return t.kind === 'single' ? `redis ${t.host}:${t.port}/${t.database}` : `redis-cluster ${t.name || t.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
}

/** The limit scripts as ioredis defines them on a client (EVALSHA, EVAL on NOSCRIPT). */
export interface LimitCommands {
  porticoCount(key: string, limit: number, windowMs: number, cost: number): Promise<[number, number]>;
  porticoReq(key: string, rate: number, burst: number): Promise<[number, string]>;
  porticoConnAcquire(key: string, max: number, ttlS: number, id: string): Promise<[number, number]>;
  zrem(key: string, member: string): Promise<number>;
}

/** A command that did not answer within the target's timeout (the command itself may still run). */
export class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`redis did not answer within ${ms} ms`);
  }
}

/** The connection is known to be down (its last connect failed): fail now, not after the timeout. */
export class RedisUnavailableError extends Error {}

const log = componentLogger('redis');

/**
 * One connection to a Redis target (ioredis: a single server, or a Cluster that holds one
 * connection per master), shared by every limit conf in this process that names the target.
 *
 * - Commands are auto-pipelined: concurrent requests' scripts go out in one write.
 * - The limit scripts are defined with defineCommand, so they run as EVALSHA and are loaded
 *   again after NOSCRIPT (a restarted or failed-over server).
 * - Every call is bounded by the target's timeout (redis_timeout), whether the command is
 *   queued while connecting, sent, or waiting for a cluster that is not ready: a request never
 *   hangs on Redis. While the connection is down (reconnecting after a failed attempt) a call
 *   fails at once instead of waiting out the timeout, so a degraded limit costs no latency.
 * - ioredis reconnects by itself (backoff up to 1 s), so Redis coming back needs no restart.
 */
export class RedisStore {
  readonly client: (Redis | Cluster) & LimitCommands;
  private refs = 0;
  private closeTimer?: NodeJS.Timeout;

  constructor(readonly target: RedisTarget, private readonly key: string) {
    const tls = target.tls ? { rejectUnauthorized: target.tlsVerify } : undefined;
    const common: RedisOptions = {
      connectTimeout: target.timeoutMs,
      commandTimeout: target.timeoutMs,
      // Queued commands are failed after one failed reconnect; the limit decides what a failure means.
      maxRetriesPerRequest: 1,
      password: target.password,
      ...(target.kind === 'single' ? { username: target.username, db: target.database } : {}),
      ...(tls ? { tls } : {}),
    };
    let client: Redis | Cluster;
    if (target.kind === 'single') {
      client = new Redis({
        ...common,
        host: target.host,
        port: target.port,
        enableAutoPipelining: true,
        retryStrategy: (times) => Math.min(times * 100, 1000),
      });
    } else {
      const opts: ClusterOptions = {
        redisOptions: common,
        enableAutoPipelining: true,
        clusterRetryStrategy: (times) => Math.min(times * 100, 1000),
        slotsRefreshTimeout: target.timeoutMs,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        maxRedirections: 4,
      };
      client = new Cluster(target.nodes, opts);
    }
    for (const [name, def] of Object.entries(LIMIT_SCRIPTS)) client.defineCommand(name, def);
    // Errors surface per command; the connection's own 'error' events would otherwise be
    // unhandled (and crash the process). Logged once per outage.
    let down = false;
    client.on('error', (err: Error) => {
      if (down) return;
      down = true;
      log.warn({ target: describeTarget(target), err: err.message }, 'redis connection failed; limits using it degrade or reject until it is back');
    });
    client.on('ready', () => {
      if (down) log.info({ target: describeTarget(target) }, 'redis connection is back');
      down = false;
    });
    this.client = client as (Redis | Cluster) & LimitCommands;
  }

  /**
   * Runs `fn` against the client, bounded by the timeout. Rejects with RedisUnavailableError
   * while the connection is known to be down, RedisTimeoutError past the timeout, or Redis's
   * own error.
   */
  run<T>(fn: (c: LimitCommands) => Promise<T>): Promise<T> {
    const status = this.client.status;
    if (status === 'reconnecting' || status === 'end' || status === 'close') {
      return Promise.reject(new RedisUnavailableError(`${describeTarget(this.target)} is unreachable`));
    }
    const ms = this.target.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RedisTimeoutError(ms)), ms);
      fn(this.client).then((v) => {
        clearTimeout(timer);
        resolve(v);
      }, (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** @internal registry bookkeeping */
  ref(): void {
    this.refs++;
    clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
  }

  /** @internal */
  unref(): void {
    if (--this.refs > 0) return;
    // A route rebuilt with the same target takes the store again well within this.
    this.closeTimer = setTimeout(() => {
      if (this.refs > 0) return;
      stores.delete(this.key);
      this.close();
    }, IDLE_CLOSE_MS);
    this.closeTimer.unref();
  }

  close(): void {
    clearTimeout(this.closeTimer);
    this.client.disconnect();
  }
}

const IDLE_CLOSE_MS = 30_000;
const stores = new Map<string, RedisStore>();

/**
 * Releases a store when the object that took it (a compiled limit conf) is garbage: compiled
 * confs are dropped with their route, with no dispose hook.
 */
const released = new FinalizationRegistry<RedisStore>((store) => store.unref());

/**
 * The shared store for `target`, held for as long as `owner` lives (the compiled conf that
 * uses it). The connection closes when no live owner names the target any more.
 */
export function acquireRedisStore(target: RedisTarget, owner: object): RedisStore {
  const key = targetKey(target);
  let store = stores.get(key);
  if (!store) {
    store = new RedisStore(target, key);
    stores.set(key, store);
  }
  store.ref();
  released.register(owner, store);
  return store;
}

/** Closes every Redis connection of this process (gateway shutdown). */
export function closeRedisStores(): void {
  for (const s of stores.values()) s.close();
  stores.clear();
}

/** How many targets this process holds connections to (tests). */
export function redisStoreCount(): number {
  return stores.size;
}
