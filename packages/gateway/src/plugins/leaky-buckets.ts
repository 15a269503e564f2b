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
