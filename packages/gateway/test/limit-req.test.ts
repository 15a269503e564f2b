import './helpers/quiet-logs';
import { validateResource } from '@portico/core';
import { startEchoUpstream, type EchoUpstream } from '@portico/testkit';
import { startHarness, type Harness } from './helpers/harness';
import { LeakyBuckets } from '../src/plugins/limit-req';

describe('LeakyBuckets', () => {
  it('drains at rate, queues up to burst with the delay to the steady rate, rejects beyond without counting', () => {
    let t = 1_000_000;
    const b = new LeakyBuckets(2, 1, () => t); // 2 req/s, burst 1
    expect(b.take('k')).toBe(0);
    expect(b.take('k')).toBe(500); // one queued: wait one interval
    expect(b.take('k')).toBe(-1); // excess 2 > burst 1
    expect(b.take('other')).toBe(0); // keys are independent
    t += 500; // drained one
    expect(b.take('k')).toBe(500);
    t += 1000;
    expect(b.take('k')).toBe(0);
  });
});

describe('limit-req through the proxy', () => {
  let h: Harness;
  let echo: EchoUpstream;
  const upstream = () => ({ nodes: { [`127.0.0.1:${echo.port}`]: 1 } });

  beforeAll(async () => {
    echo = await startEchoUpstream({ name: 'echo' });
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
  });

  it('nodelay: a burst passes at once, the rest gets rejected_code and rejected_msg; keys are per client header', async () => {
    await h.put('routes/lr1', {
      uri: '/lr1',
      plugins: { 'limit-req': { rate: 0.1, burst: 2, key: 'http_x_client', nodelay: true, rejected_code: 429, rejected_msg: 'slow down' } },
      upstream: upstream(),
    });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await h.request('/lr1', { headers: { 'x-client': 'a' } })).status);
    expect(codes).toEqual([200, 200, 200, 429]);
    const r = await h.request('/lr1', { headers: { 'x-client': 'a' } });
    expect(r.json()).toEqual({ error_msg: 'slow down' });
    expect((await h.request('/lr1', { headers: { 'x-client': 'b' } })).status).toBe(200);
  });

  it('without nodelay, a request inside the burst is delayed to the steady rate; default rejection is 503', async () => {
    await h.put('routes/lr2', { uri: '/lr2', plugins: { 'limit-req': { rate: 5, burst: 1, key: 'remote_addr' } }, upstream: upstream() });
    const t0 = Date.now();
    const [a, b, c] = await Promise.all([h.request('/lr2'), h.request('/lr2'), h.request('/lr2')]);
    const statuses = [a.status, b.status, c.status].sort();
    expect(statuses).toEqual([200, 200, 503]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150); // the queued one waited ~200 ms (1/rate)
  });

  it('schema: rate and burst and key are required; rate must be positive', () => {
    expect(validateResource('route', { uri: '/x', plugins: { 'limit-req': { rate: 1, burst: 0, key: 'remote_addr' } } })).toEqual({ ok: true });
    expect(validateResource('route', { uri: '/x', plugins: { 'limit-req': { rate: 0, burst: 0, key: 'remote_addr' } } }).ok).toBe(false);
    expect(validateResource('route', { uri: '/x', plugins: { 'limit-req': { rate: 1, key: 'remote_addr' } } }).ok).toBe(false);
  });
});
