import { LeasedCounter, LimitServer } from '../src';

/**
 * Node-wide limits with workers: the primary's LimitServer and each worker's LeasedCounter,
 * over an asynchronous call (as IPC is). End to end: packages/cli/test/workers.test.ts.
 */
function node(workers: number, limit: number, windowMs = 60_000) {
  const server = new LimitServer(Date.now, 1_000_000);
  let asks = 0;
  const counters = Array.from({ length: workers }, () => new LeasedCounter(async (key, want) => {
    asks++;
    await new Promise((r) => setImmediate(r));
    return server.count('limit-count:route:1:x', limit, windowMs, undefined, key, want);
  }, limit, windowMs));
  return { server, counters, asks: () => asks };
}

async function takeAll(counters: LeasedCounter[], n: number, key = 'k', concurrency = 8): Promise<number[]> {
  const remaining: number[] = [];
  for (let i = 0; i < n; i += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, n - i) }, (_, j) => counters[(i + j) % counters.length].take(key));
    for (const r of await Promise.all(batch.map((b) => Promise.resolve(b)))) remaining.push(r.remaining);
  }
  return remaining;
}

describe('node-wide limit-count over workers', () => {
  it('a small limit is exact: 2 workers admit 5 of 40 requests, not 10', async () => {
    const { server, counters } = node(2, 5);
    const r = await takeAll(counters, 40);
    expect(r.filter((x) => x >= 0)).toHaveLength(5);
    server.close();
  });

  it('a large limit is taken in batches: few questions to the primary, never more than the limit', async () => {
    const { server, counters, asks } = node(2, 64_000);
    const r = await takeAll(counters, 20_000, 'hot', 50);
    expect(r.every((x) => x >= 0)).toBe(true);
    expect(asks()).toBeLessThan(20_000 / 100);
    // what the primary handed out covers what was used, and never exceeds the limit
    const g = server.count('limit-count:route:1:x', 64_000, 60_000, undefined, 'hot', 1);
    expect(64_000 - g.remaining).toBeGreaterThanOrEqual(20_000);
    expect(g.remaining).toBeGreaterThanOrEqual(0);
    server.close();
  });

  it('the whole quota of a window is usable across workers (at most one batch per worker stranded)', async () => {
    const limit = 6400; // batch up to 100
    const { server, counters } = node(2, limit);
    const r = await takeAll(counters, limit + 500, 'k', 16);
    const admitted = r.filter((x) => x >= 0).length;
    expect(admitted).toBeLessThanOrEqual(limit);
    expect(admitted).toBeGreaterThanOrEqual(limit - 2 * 100);
    server.close();
  });

  it('once the primary says the window is spent, a worker rejects without asking', async () => {
    const { server, counters, asks } = node(1, 3);
    await takeAll(counters, 4);
    const before = asks();
    const r = await takeAll(counters, 100);
    expect(r.every((x) => x < 0)).toBe(true);
    expect(asks()).toBe(before);
    server.close();
  });

  it('a new window starts fresh', async () => {
    let now = 1_000_000;
    const clock = () => now;
    const server = new LimitServer(clock, 1_000_000);
    const counters = [0, 1].map(() => new LeasedCounter(async (key, want) => server.count('c', 2, 1000, undefined, key, want), 2, 1000, clock));
    expect((await takeAll(counters, 5)).filter((x) => x >= 0)).toHaveLength(2);
    now += 1001;
    expect((await takeAll(counters, 5)).filter((x) => x >= 0)).toHaveLength(2);
    server.close();
  });

  it('counts per worker when the primary cannot be reached (degraded, not unlimited)', async () => {
    const c = new LeasedCounter(() => Promise.reject(new Error('gone')), 3, 60_000);
    const r: number[] = [];
    for (let i = 0; i < 6; i++) r.push((await c.take('k')).remaining);
    expect(r.filter((x) => x >= 0)).toHaveLength(3);
  });

  it('LimitServer forgets counters idle for longer than their window', () => {
    let now = 1_000_000;
    const server = new LimitServer(() => now, 1_000_000);
    server.count('c1', 10, 1000, undefined, 'k', 5);
    now += 500;
    server.sweep();
    expect(server.count('c1', 10, 1000, undefined, 'k', 10).granted).toBe(5); // kept: 5 left
    now += 2000;
    server.sweep();
    expect(server.count('c1', 10, 1000, undefined, 'k', 10).granted).toBe(10); // dropped: fresh
    server.close();
  });
});
