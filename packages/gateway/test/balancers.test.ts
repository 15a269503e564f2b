import './helpers/quiet-logs';
import http from 'node:http';
import { startEchoUpstream, waitFor, type EchoUpstream } from '@portico/testkit';
import { startHarness, type Harness } from './helpers/harness';
import { ConsistentHashBalancer } from '../src/upstream/balancers/chash';
import { LeastConnBalancer } from '../src/upstream/balancers/least-conn';
import type { Target } from '../src/upstream/upstream';

const target = (port: number, weight = 1): Target =>
  ({ node: { host: '10.0.0.1', port, weight, priority: 0 }, origin: `http://10.0.0.1:${port}`, hostHeader: '', pool: undefined as never });

describe('ConsistentHashBalancer', () => {
  const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
  const assign = (b: ConsistentHashBalancer) => keys.map((k) => b.pickKey(k)!.node.port);

  it('spreads keys over nodes by weight', () => {
    const b = new ConsistentHashBalancer([target(1), target(2), target(3, 2)]);
    const counts = new Map<number, number>();
    for (const p of assign(b)) counts.set(p, (counts.get(p) ?? 0) + 1);
    // weight 1:1:2 → 25 % / 25 % / 50 %, within a few points
    expect(counts.get(1)! / keys.length).toBeGreaterThan(0.2);
    expect(counts.get(1)! / keys.length).toBeLessThan(0.3);
    expect(counts.get(3)! / keys.length).toBeGreaterThan(0.45);
    expect(counts.get(3)! / keys.length).toBeLessThan(0.55);
  });

  it('adding a node to 4 moves about 1/5 of the keys, all to the new node; removing one moves only its keys', () => {
    const four = [1, 2, 3, 4].map((p) => target(p));
    const before = assign(new ConsistentHashBalancer(four));
    const after = assign(new ConsistentHashBalancer([...four, target(5)]));
    let moved = 0;
    let movedElsewhere = 0;
    for (let i = 0; i < keys.length; i++) {
      if (before[i] === after[i]) continue;
      moved++;
      if (after[i] !== 5) movedElsewhere++;
    }
    expect(movedElsewhere).toBe(0);
    // a modulo hash would move ~80 %; the ring moves ~20 %
    expect(moved / keys.length).toBeGreaterThan(0.12);
    expect(moved / keys.length).toBeLessThan(0.28);

    const three = assign(new ConsistentHashBalancer(four.slice(1)));
    const disturbed = keys.filter((_, i) => before[i] !== 1 && three[i] !== before[i]);
    expect(disturbed).toEqual([]);
  });

  it('a retry skips tried nodes but stays deterministic', () => {
    const ts = [target(1), target(2), target(3)];
    const b = new ConsistentHashBalancer(ts);
    const first = b.pickKey('k')!;
    const second = b.pickKey('k', new Set([first]))!;
    expect(second).not.toBe(first);
    expect(b.pickKey('k', new Set([first]))).toBe(second);
    expect(b.pickKey('k', new Set(ts))).toBeUndefined();
  });
});

describe('LeastConnBalancer', () => {
  it('picks the node with the fewest open requests per weight, and counts releases', () => {
    const [a, b] = [target(1), target(2, 2)];
    const lc = new LeastConnBalancer([a, b]);
    // scores (active+1)/weight: b 0.5 < a 1 → b; then b 1 vs a 1 → tie; then ...
    const picks = [lc.pick(), lc.pick(), lc.pick()];
    expect(picks.filter((t) => t === b)).toHaveLength(2);
    expect(lc.inFlight(a) + lc.inFlight(b)).toBe(3);
    lc.release(b);
    lc.release(b);
    expect(lc.inFlight(b)).toBe(0);
    expect(lc.pick()).toBe(b);
  });
});

describe('balancers through the proxy', () => {
  let h: Harness;
  const echoes: EchoUpstream[] = [];
  beforeAll(async () => {
    h = await startHarness();
    for (const name of ['e1', 'e2', 'e3']) echoes.push(await startEchoUpstream({ name }));
  });
  afterAll(async () => {
    await h.close();
    for (const e of echoes) await e.close();
  });
  const nodes = () => Object.fromEntries(echoes.map((e) => [`127.0.0.1:${e.port}`, 1]));

  it('chash on a header sends a key to the same node every time, and different keys to several nodes', async () => {
    await h.put('routes/ch', { uri: '/ch', upstream: { type: 'chash', hash_on: 'header', key: 'x-user', nodes: nodes() } });
    const seen = new Set<string>();
    for (let u = 0; u < 12; u++) {
      const names = new Set<string>();
      for (let i = 0; i < 3; i++) names.add(String((await h.request('/ch', { headers: { 'x-user': `u${u}` } })).headers['x-echo-name']));
      expect(names.size).toBe(1);
      seen.add([...names][0]);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('chash on a cookie and on vars (arg) both stick', async () => {
    await h.put('routes/ch2', { uri: '/ch2', upstream: { type: 'chash', hash_on: 'cookie', key: 'sid', nodes: nodes() } });
    await h.put('routes/ch3', { uri: '/ch3', upstream: { type: 'chash', hash_on: 'vars', key: 'arg_id', nodes: nodes() } });
    for (const [path, headers] of [['/ch2', { cookie: 'a=1; sid=abc' }], ['/ch3?id=42', {}]] as const) {
      const names = new Set<string>();
      for (let i = 0; i < 4; i++) names.add(String((await h.request(path, { headers })).headers['x-echo-name']));
      expect(names.size).toBe(1);
    }
  });

  it('least_conn avoids the node that holds an open request', async () => {
    const [slow, fast] = echoes;
    await h.put('routes/lc', { uri: '/*', upstream: { type: 'least_conn', nodes: { [`127.0.0.1:${slow.port}`]: 1, [`127.0.0.1:${fast.port}`]: 1 } } });
    // one request parked on whichever node takes it first
    const parked = http.request({ host: '127.0.0.1', port: h.port, path: '/delay/30000', agent: false });
    parked.on('error', () => undefined);
    parked.end();
    const total = () => slow.requests + fast.requests;
    const start = total();
    await waitFor(() => total() > start, { what: 'parked request reached a node' });
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) names.add(String((await h.request('/anything')).headers['x-echo-name']));
    parked.destroy();
    // round robin would alternate; least_conn keeps every short request off the busy node
    expect(names.size).toBe(1);
  });
});
