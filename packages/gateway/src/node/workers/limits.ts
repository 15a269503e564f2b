import type { CountLimiter, CountResult, LimitBackend, ReqLimiter } from '../../plugins/limit-backend';
import { CountWindows, groupWindows } from '../../plugins/count-windows';
import { LeakyBuckets } from '../../plugins/leaky-buckets';

/**
 * Node-wide limit counters for a node with workers: APISIX's limit-count and limit-req count
 * per node (nginx shared dicts), so N workers must not each allow the full limit.
 *
 * The primary holds the counters (LimitServer). A worker's limit-count takes quota in leases
 * (LeasedCounter): one token at first, then doubling batches up to limit/64, so a hot key
 * costs one IPC round trip per batch, not per request, and a worker never holds more than
 * about 1/64 of a window's quota unused (the node admits at most `count` per window, a little
 * fewer when leases are stranded in an idle worker). Once the primary says the window is spent,
 * the worker rejects locally until it resets. limit-req asks the primary on every request:
 * its delay depends on the bucket's exact state.
 */

export interface CountGrant {
  granted: number;
  remaining: number;
  resetMs: number;
}

export interface LimitRequests {
  count(counter: string, limit: number, windowMs: number, group: string | undefined, key: string, want: number): Promise<CountGrant>;
  req(counter: string, rate: number, burst: number, key: string): Promise<number>;
}

const MAX_BATCH = 1000;

interface Lease {
  tokens: number;
  /** quota the primary had left after the last grant */
  remaining: number;
  resetAt: number;
  nextBatch: number;
  /** the primary has nothing left in this window */
  exhausted: boolean;
}

/** A worker's limit-count counters for one conf. */
export class LeasedCounter implements CountLimiter {
  private readonly leases = new Map<string, Lease>();
  private readonly maxBatch: number;
  private sweepAt = 1024;
  /** used while the primary cannot be reached: per-worker counting beats none */
  private fallback?: CountWindows;

  constructor(
    private readonly ask: (key: string, want: number) => Promise<CountGrant>,
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.maxBatch = Math.max(1, Math.min(MAX_BATCH, Math.floor(limit / 64)));
  }

  take(key: string): CountResult | Promise<CountResult> {
    const now = this.now();
    const lease = this.leases.get(key);
    if (lease && lease.resetAt > now) {
      if (lease.tokens > 0) {
        lease.tokens--;
        return { remaining: lease.remaining + lease.tokens, resetMs: lease.resetAt - now };
      }
      if (lease.exhausted) return { remaining: -1, resetMs: lease.resetAt - now };
    }
    return this.refill(key, lease && lease.resetAt > now ? lease.nextBatch : 1);
  }

  private async refill(key: string, want: number): Promise<CountResult> {
    let g: CountGrant;
    try {
      g = await this.ask(key, want);
    } catch {
      this.fallback ??= new CountWindows(this.limit, this.windowMs, this.now);
      return this.fallback.take(key);
    }
    const now = this.now();
    let lease = this.leases.get(key);
    if (!lease || lease.resetAt <= now) {
      if (this.leases.size >= this.sweepAt) this.sweep(now);
      lease = { tokens: 0, remaining: g.remaining, resetAt: now + g.resetMs, nextBatch: 1, exhausted: false };
      this.leases.set(key, lease);
    }
    lease.tokens += g.granted;
    lease.remaining = g.remaining;
    lease.resetAt = now + g.resetMs;
    lease.nextBatch = Math.min(lease.nextBatch * 2, this.maxBatch);
    lease.exhausted = g.remaining <= 0;
    if (lease.tokens > 0) {
      lease.tokens--;
      return { remaining: lease.remaining + lease.tokens, resetMs: g.resetMs };
    }
    return { remaining: -1, resetMs: g.resetMs };
  }

  private sweep(now: number): void {
    for (const [k, l] of this.leases) if (l.resetAt <= now) this.leases.delete(k);
    this.sweepAt = Math.max(1024, this.leases.size * 2);
  }
}

/** A worker's limit backend: counters in the primary. */
export function remoteLimits(requests: LimitRequests): LimitBackend {
  return {
    count: (counter, limit, windowMs, group) =>
      new LeasedCounter((key, want) => requests.count(counter, limit, windowMs, group, key, want), limit, windowMs),
    req: (counter, rate, burst): ReqLimiter => {
      let fallback: LeakyBuckets | undefined;
      return {
        take: (key) => requests.req(counter, rate, burst, key).catch(() => (fallback ??= new LeakyBuckets(rate, burst)).take(key)),
      };
    },
  };
}

interface Held<T> {
  limiter: T;
  lastUsed: number;
  idleMs: number;
}

/** The primary's counters, by the conf identity workers send (limitId). */
export class LimitServer {
  private readonly counts = new Map<string, Held<CountWindows>>();
  private readonly reqs = new Map<string, Held<LeakyBuckets>>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now, sweepMs = 60_000) {
    this.timer = setInterval(() => this.sweep(), sweepMs);
    this.timer.unref();
  }

  count(counter: string, limit: number, windowMs: number, group: string | undefined, key: string, want: number): CountGrant {
    let held = this.counts.get(counter);
    if (!held) {
      held = { limiter: new CountWindows(limit, windowMs, this.now, group !== undefined ? groupWindows(group) : undefined), lastUsed: 0, idleMs: windowMs };
      this.counts.set(counter, held);
    }
    held.lastUsed = this.now();
    return held.limiter.grant(key, Math.max(1, Math.min(want, MAX_BATCH)));
  }

  req(counter: string, rate: number, burst: number, key: string): number {
    let held = this.reqs.get(counter);
    if (!held) {
      // a bucket drains in (burst + 1) / rate seconds: idle longer than that, it is empty anyway
      held = { limiter: new LeakyBuckets(rate, burst, this.now), lastUsed: 0, idleMs: ((burst + 1) / rate) * 1000 };
      this.reqs.set(counter, held);
    }
    held.lastUsed = this.now();
    return held.limiter.take(key);
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Drops the counters of confs nobody used for longer than their window (old route versions). */
  sweep(): void {
    const now = this.now();
    for (const map of [this.counts, this.reqs] as Array<Map<string, Held<unknown>>>) {
      for (const [id, h] of map) if (now - h.lastUsed > h.idleMs) map.delete(id);
    }
  }
}
