import {
  startPortico, startPorticoCluster, startRedis, startRedisCluster, startTcpProxy, waitFor,
  type PorticoCluster, type PorticoProcess, type RedisCluster, type RedisProcess,
} from '@portico/testkit';

/**
 * Cluster-wide limits: two `portico start` data planes (each with 2 proxy workers) on one
 * etcd, counting in one Redis (or one Redis Cluster). A limit holds for the whole cluster, not
 * per node or per worker.
 */
describe('limits shared by every data plane through redis', () => {
  let c: PorticoCluster;
  /** the data planes, started one after the other (a node with workers is slow to start on a busy machine) */
  const dataPlanes: PorticoProcess[] = [];
  let redis: RedisProcess;
  let rc: RedisCluster;
  let probe = 0;

  beforeAll(async () => {
    [redis, rc] = await Promise.all([startRedis({ name: 'rl-redis' }), startRedisCluster({ name: 'rl-rcluster' })]);
    c = await startPorticoCluster({ name: 'rl', etcdMembers: 1, dataPlanes: 0 });
    for (const n of [1, 2]) {
      dataPlanes.push(await startPortico({ name: `rl-dp${n}`, role: 'data_plane', etcd: c.etcd.endpoints, etcdTimeout: 3,
        extraConfig: { apisix: { workers: 2 } }, env: { PORTICO_NODE_ID: `rl-dp${n}` } }));
    }
  }, 180_000);
  afterAll(async () => {
    await Promise.all([...dataPlanes.map((dp) => dp.stop()), c?.stop(), redis?.stop(), rc?.stop()]);
  });

  const single = () => ({ policy: 'redis', redis_host: '127.0.0.1', redis_port: redis.port });
  const cluster = () => ({ policy: 'redis-cluster', redis_cluster_nodes: rc.addresses, redis_cluster_name: 'rl' });

  /** PUTs a route, then waits until every data plane has applied it (a later probe route is served everywhere). */
  async function putRoute(id: string, uri: string, plugins: Record<string, unknown>): Promise<void> {
    const body = { uri, plugins, upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${c.echo.port}`]: 1 } } };
    const res = await c.admin(`/routes/${id}`, { method: 'PUT', body: JSON.stringify(body) });
    expect([200, 201]).toContain(res.status);
    const p = `/probe-${probe++}`;
    await c.admin(`/routes/probe`, { method: 'PUT', body: c.route(p) });
    await Promise.all(dataPlanes.map((dp) => waitFor(async () => (await fetch(dp.proxyUrl + p)).status === 200, { what: `${dp.name} to apply ${id}` })));
  }

  /** `total` GETs of `path`, spread round-robin over the data planes, `concurrency` at a time: status → count. */
  async function load(path: string, total: number, concurrency: number): Promise<Record<number, number>> {
    const codes: Record<number, number> = {};
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const res = await fetch(dataPlanes[i % dataPlanes.length].proxyUrl + path);
        await res.arrayBuffer();
        codes[res.status] = (codes[res.status] ?? 0) + 1;
      }
    }));
    return codes;
  }

  it.each([
    ['redis', single],
    ['redis-cluster', cluster],
  ])('limit-count on %s: 1,000 requests over 2 nodes × 2 workers admit exactly count (100)', async (policy, target) => {
    const id = `count-${policy}`;
    await putRoute(id, `/${id}`, { 'limit-count': { count: 100, time_window: 60, key_type: 'constant', key: 'one', rejected_code: 429, ...target() } });
    const codes = await load(`/${id}`, 1000, 48);
    expect(codes).toEqual({ 200: 100, 429: 900 });
  }, 60_000);

  it('limit-req on redis: the admitted rate across the nodes is the configured rate (within 5 %)', async () => {
    // low enough that even a busy test machine offers several times the rate
    const rate = 10;
    const burst = 2;
    await putRoute('req', '/req', { 'limit-req': { rate, burst, nodelay: true, key: 'http_x_k', rejected_code: 429, ...single() } });
    const send = async (n: number) => {
      const res = await fetch(dataPlanes[n % dataPlanes.length].proxyUrl + '/req', { headers: { 'x-k': 'shared' } });
      await res.arrayBuffer();
      return res.status;
    };
    // The first admission, and the bucket's `last` after it: when the window opened, on Redis's clock.
    expect(await send(0)).toBe(200);
    const [bucket] = (await redis.command('KEYS', 'portico:limit-req:*')) as string[];
    const firstAt = Number(await redis.command('HGET', bucket, 'last'));
    let admitted = 1;
    let offered = 0;
    let other = 0;
    const t0 = Date.now();
    let i = 1;
    // an offered load well above the rate, from every node and worker
    await Promise.all(Array.from({ length: 24 }, async () => {
      while (Date.now() - t0 < 6000) {
        const status = await send(i++);
        offered++;
        if (status === 200) admitted++;
        else if (status !== 429) other++;
      }
    }));
    const elapsed = (Date.now() - t0) / 1000;
    expect(other).toBe(0);
    expect(offered / elapsed).toBeGreaterThan(3 * rate); // the bucket stayed full
    // The last admission on Redis's clock: between the two, the bucket let `burst + 1` through
    // at once and then `rate` per second, whichever node or worker asked.
    const lastAt = Number(await redis.command('HGET', bucket, 'last'));
    const expected = 1 + burst + (rate * (lastAt - firstAt)) / 1000;
    expect(lastAt - firstAt).toBeGreaterThan(5000);
    expect({ admitted, deviation: Math.abs(admitted - expected) / expected <= 0.05 }).toEqual({ admitted, deviation: true });
  }, 60_000);

  it.each([
    ['redis', single],
    ['redis-cluster', cluster],
  ])('limit-conn on %s: concurrency is held across the nodes, and slots come back when requests finish', async (policy, target) => {
    const id = `conn-${policy}`;
    // one route id for both policies: the second PUT replaces the first (same uri)
    await putRoute('conn', '/delay/*', { 'limit-conn': { conn: 5, burst: 0, default_conn_delay: 0.1, key_type: 'var', key: 'http_x_k', rejected_code: 429, ...target() } });
    // 30 at once, each held 1.5 s by the upstream: 5 get through, wherever they arrive
    const codes: Record<number, number> = {};
    await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const res = await fetch(dataPlanes[i % dataPlanes.length].proxyUrl + '/delay/1500', { headers: { 'x-k': id } });
      await res.arrayBuffer();
      codes[res.status] = (codes[res.status] ?? 0) + 1;
    }));
    expect(codes).toEqual({ 200: 5, 429: 25 });
    // every slot is released once its request is done (just after the client has its answer): 5 at once pass again
    await waitFor(async () => {
      const again = await Promise.all(Array.from({ length: 5 }, (_, i) => fetch(dataPlanes[i % dataPlanes.length].proxyUrl + '/delay/10', { headers: { 'x-k': id } }).then((r) => r.status)));
      return again.every((s) => s === 200);
    }, { timeoutMs: 5000, what: 'the slots to be released' });
  }, 60_000);

  /** Steady load on `paths` from every node until `stop()`: status → count, per path. */
  function steadyLoad(paths: string[], concurrency = 12) {
    const codes: Record<string, Record<number, number>> = Object.fromEntries(paths.map((p) => [p, {}]));
    let running = true;
    let i = 0;
    const done = Promise.all(Array.from({ length: concurrency }, async () => {
      while (running) {
        const n = i++;
        const path = paths[n % paths.length];
        const res = await fetch(dataPlanes[n % dataPlanes.length].proxyUrl + path);
        await res.arrayBuffer();
        codes[path][res.status] = (codes[path][res.status] ?? 0) + 1;
      }
    }));
    return { codes, stop: async () => { running = false; await done; } };
  }

  it('redis killed mid-load and restarted: degrading routes never answer 5xx, strict ones 500 only while it is down; no node crashes', async () => {
    const pids = dataPlanes.map((dp) => dp.pid);
    const conf = { count: 1_000_000, time_window: 60, key_type: 'constant', key: 'k', redis_timeout: 200, ...single() };
    await putRoute('degrade', '/degrade', { 'limit-count': { ...conf, allow_degradation: true } });
    await putRoute('strict', '/strict', { 'limit-count': { ...conf, allow_degradation: false } });
    const l = steadyLoad(['/degrade', '/strict']);
    await waitFor(() => (l.codes['/strict'][200] ?? 0) > 50, { timeoutMs: 20_000, what: 'load to run' });
    await redis.kill();
    await waitFor(() => (l.codes['/strict'][500] ?? 0) > 20, { timeoutMs: 20_000, what: 'strict requests to be refused' });
    const degradeDuring = { ...l.codes['/degrade'] };
    await redis.restart();
    // back without a restart of any node: strict requests pass again
    const before = l.codes['/strict'][200];
    await waitFor(() => l.codes['/strict'][200] > before + 50, { timeoutMs: 20_000, what: 'strict requests to pass again' });
    const strict500 = l.codes['/strict'][500];
    await waitFor(() => l.codes['/strict'][200] > before + 200, { timeoutMs: 20_000, what: 'more load after recovery' });
    await l.stop();
    expect(Object.keys(l.codes['/degrade'])).toEqual(['200']);
    expect(degradeDuring[200]).toBeGreaterThan(0);
    expect(Object.keys(l.codes['/strict']).sort()).toEqual(['200', '500']);
    // after recovery (and a settling margin) no further refusals
    expect(l.codes['/strict'][500] - strict500).toBeLessThanOrEqual(dataPlanes.length * 2 * 12);
    expect(dataPlanes.map((dp) => dp.pid)).toEqual(pids);
  }, 90_000);

  it('a redis slower than redis_timeout: a degrading limit answers no 5xx, no request hangs', async () => {
    const slow = await startTcpProxy(redis.port);
    try {
      await putRoute('slow', '/slow', { 'limit-count': { count: 1_000_000, time_window: 60, key_type: 'constant', key: 'k', policy: 'redis', redis_host: '127.0.0.1', redis_port: slow.port, redis_timeout: 100, allow_degradation: true } });
      const l = steadyLoad(['/slow'], 12);
      await waitFor(() => (l.codes['/slow'][200] ?? 0) > 50, { timeoutMs: 20_000, what: 'load to run' });
      slow.setDelay(300); // 3 × the timeout
      const at = l.codes['/slow'][200];
      await waitFor(() => l.codes['/slow'][200] > at + 100, { timeoutMs: 20_000, what: 'requests through a slow redis' });
      slow.setDelay(0);
      await l.stop();
      expect(l.codes['/slow']).toEqual({ 200: l.codes['/slow'][200] });
    } finally {
      await slow.close();
    }
  }, 90_000);
});
