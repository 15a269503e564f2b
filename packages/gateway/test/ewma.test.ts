import './helpers/quiet-logs';
import { startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { startHarness, startServer, type Harness } from './helpers/harness';
import { EwmaBalancer } from '../src/upstream/balancers/ewma';
import type { Target } from '../src/upstream/upstream';

const target = (port: number): Target =>
  ({ node: { host: '10.0.0.1', port, weight: 1, priority: 0 }, origin: `http://10.0.0.1:${port}`, hostHeader: '', pool: undefined as never });

describe('EwmaBalancer', () => {
  let now = 1_000_000;
  const clock = { now: () => now };

  it('tries unmeasured nodes first, then prefers the lower average latency', () => {
    const [a, b] = [target(1), target(2)];
    const bal = new EwmaBalancer([a, b], clock);
    bal.observe(a, 100);
    // b was never measured: it scores 0 and wins
    expect(bal.pick()).toBe(b);
    bal.observe(b, 5);
    for (let i = 0; i < 20; i++) expect(bal.pick()).toBe(b);
    expect(bal.pick(new Set([b]))).toBe(a); // a retry goes to the node not tried
    expect(bal.pick(new Set([a, b]))).toBeUndefined();
  });

  it('moves the average toward new samples and decays it with idle time', () => {
    const a = target(1);
    const bal = new EwmaBalancer([a], clock);
    bal.observe(a, 100);
    expect(bal.latency(a)).toBeCloseTo(100);
    now += 1000; // 1 s later a 0 ms sample: weight exp(-0.1) stays on the old value
    bal.observe(a, 0);
    expect(bal.latency(a)).toBeCloseTo(100 * Math.exp(-0.1));
    now += 30_000; // idle for 30 s: the score fades toward 0, so a slow node gets another chance
    expect(bal.latency(a)).toBeLessThan(100 * Math.exp(-3.1) + 0.01);
    bal.observe(a, NaN); // no measurement: ignored
    expect(Number.isNaN(bal.latency(a))).toBe(false);
  });

  it('with more than two nodes compares two random candidates', () => {
    const ts = [target(1), target(2), target(3)];
    // random() = 0 always: the sample is the first two untried nodes in order
    const bal = new EwmaBalancer(ts, { ...clock, random: () => 0 });
    bal.observe(ts[0], 50);
    bal.observe(ts[1], 10);
    bal.observe(ts[2], 1);
    // ts[2] is fastest but was not drawn; of the two drawn, ts[1] is faster
    expect(bal.pick()).toBe(ts[1]);
    expect(bal.pick(new Set([ts[1]]))).toBe(ts[2]);
  });
});

describe('ewma through the proxy', () => {
  let h: Harness;
  let fast: EchoUpstream;
  let slow: Awaited<ReturnType<typeof startServer>>;
  const timers = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    h = await startHarness();
    fast = await startEchoUpstream({ name: 'fast' });
    // The slow node delays every answer like the echo upstream's /delay/<ms> path does, but on
    // every path: both nodes serve the same route, and a path delays both echo nodes alike.
    slow = await startServer((req, res) => {
      const t = setTimeout(() => {
        timers.delete(t);
        res.writeHead(200, { 'x-echo-name': 'slow', 'content-length': 2 });
        res.end('{}');
      }, 60);
      timers.add(t);
      res.once('close', () => clearTimeout(t));
    });
  });
  afterAll(async () => {
    await h.close();
    for (const t of timers) clearTimeout(t);
    await fast.close();
    await slow.close();
  });

  it('sends most traffic to the faster node', async () => {
    await h.put('routes/ewma', {
      uri: '/ewma/*',
      upstream: { type: 'ewma', nodes: { [`127.0.0.1:${fast.port}`]: 1, [`127.0.0.1:${slow.port}`]: 1 } },
    });
    const seen = { fast: 0, slow: 0 } as Record<string, number>;
    for (let i = 0; i < 40; i++) {
      const r = await h.request('/ewma/x');
      expect(r.status).toBe(200);
      seen[r.headers['x-echo-name'] as string]++;
    }
    // both are measured once at first (an unmeasured node scores 0); after that the fast one wins
    expect(seen.slow).toBeGreaterThanOrEqual(1);
    expect(seen.fast).toBeGreaterThanOrEqual(36);
  });
});
