import './helpers/quiet-logs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer, startEchoUpstream, waitFor, type EchoUpstream } from '@portico/testkit';
import { httpRequest, startHarness, type Harness } from './helpers/harness';
import { resolveChecks } from '../src/upstream/health/config';
import { healthRegistryFor } from '../src/upstream/health/registry';
import { NodeHealth } from '../src/upstream/health/state';

/**
 * An upstream that can be switched between answering 200, answering 500, and closing the
 * socket without an answer; it can also stop listening and come back on the same port.
 */
interface Flappy {
  name: string;
  port: number;
  mode: 'ok' | '500' | 'close';
  /** requests received, probes included */
  requests: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

async function startFlappy(name: string): Promise<Flappy> {
  let server: http.Server | undefined;
  const f: Flappy = {
    name,
    port: 0,
    mode: 'ok',
    requests: 0,
    async stop() {
      const s = server;
      server = undefined;
      if (s) await closeServer(s);
    },
    async restart() {
      server = http.createServer((req, res) => {
        f.requests++;
        if (f.mode === 'close') return void req.socket.destroy();
        const body = JSON.stringify({ name });
        res.writeHead(f.mode === 'ok' ? 200 : 500, { 'content-type': 'application/json', 'x-echo-name': name, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(f.port, '127.0.0.1', () => resolve());
      });
      f.port = (server.address() as AddressInfo).port;
    },
  };
  await f.restart();
  return f;
}

/** Fast schedules so a state change takes tens of milliseconds, not seconds. */
const FAST_ACTIVE = {
  timeout: 0.5,
  healthy: { interval: 0.03, successes: 2 },
  unhealthy: { interval: 0.03, http_failures: 2, tcp_failures: 2, timeouts: 2 },
};

interface NodeView { ip: string; port: number; status: string; counter: Record<string, number> }
interface UpstreamView { name: string; type: string; nodes: NodeView[] }

describe('health checks (unit)', () => {
  it('applies APISIX defaults for active and passive checks', () => {
    const c = resolveChecks({ active: {}, passive: {} })!;
    expect(c.active).toMatchObject({
      type: 'http', timeout: 1, concurrency: 10, http_path: '/', https_verify_certificate: true,
      healthy: { interval: 1, successes: 2, http_statuses: [200, 302] },
      unhealthy: { interval: 1, http_failures: 5, tcp_failures: 2, timeouts: 3, http_statuses: [429, 404, 500, 501, 502, 503, 504, 505] },
    });
    expect(c.passive).toMatchObject({
      type: 'http',
      healthy: { successes: 5 },
      unhealthy: { http_failures: 5, tcp_failures: 2, timeouts: 7, http_statuses: [429, 500, 503] },
    });
    expect(c.passive!.healthy.http_statuses).toEqual(expect.arrayContaining([200, 204, 302, 308]));
    expect(c.passive!.healthy.http_statuses).not.toContain(404);
    expect(resolveChecks(undefined)).toBeUndefined();
    expect(resolveChecks({})).toBeUndefined();
  });

  it('counts consecutive events: a success resets failures, thresholds flip the state and clear counters', () => {
    const th = { successes: 2, http_failures: 3, tcp_failures: 2, timeouts: 0 };
    const h = new NodeHealth();
    expect(h.record('http_failure', th)).toBe(false);
    expect(h.status).toBe('mostly_healthy');
    expect(h.record('http_failure', th)).toBe(false);
    // a success breaks the run: two more http failures do not reach the threshold of 3
    expect(h.record('success', th)).toBe(false);
    expect(h.status).toBe('healthy');
    h.record('http_failure', th);
    h.record('http_failure', th);
    expect(h.healthy).toBe(true);
    expect(h.record('timeout_failure', th)).toBe(false); // timeouts disabled (0)
    expect(h.record('tcp_failure', th)).toBe(false);
    expect(h.record('tcp_failure', th)).toBe(true);
    expect(h.status).toBe('unhealthy');
    expect(h.healthy).toBe(false);
    expect(h.counter).toEqual({ success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 });
    expect(h.record('success', th)).toBe(false);
    expect(h.status).toBe('mostly_unhealthy');
    // a failure breaks the run of successes: two more are needed
    expect(h.record('http_failure', th)).toBe(false);
    expect(h.status).toBe('unhealthy');
    expect(h.record('success', th)).toBe(false);
    expect(h.record('success', th)).toBe(true);
    expect(h.status).toBe('healthy');
  });
});

describe('health checks through the proxy', () => {
  let h: Harness;
  let echo: EchoUpstream;
  const flappies: Flappy[] = [];
  const flappy = async (name: string) => {
    const f = await startFlappy(name);
    flappies.push(f);
    return f;
  };

  beforeAll(async () => {
    h = await startHarness();
    echo = await startEchoUpstream({ name: 'steady' });
  });
  afterAll(async () => {
    await h.close();
    await echo.close();
    for (const f of flappies) await f.stop();
  });

  const nodes = (...ports: number[]) => Object.fromEntries(ports.map((p) => [`127.0.0.1:${p}`, 1]));
  const control = async (): Promise<UpstreamView[]> => (await httpRequest(h.controlPort, '/v1/healthcheck')).json();
  const nodeStatus = async (name: string, port: number): Promise<string | undefined> =>
    (await control()).find((u) => u.name.endsWith(name))?.nodes.find((n) => n.port === port)?.status;
  const waitStatus = (name: string, port: number, status: string) =>
    waitFor(async () => (await nodeStatus(name, port)) === status, { what: `${name} node ${port} ${status}`, timeoutMs: 5000 });
  /** Names of the nodes that answered `n` sequential requests. */
  const spread = async (path: string, n: number): Promise<Map<string, number>> => {
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await h.request(path);
      const name = `${r.status}:${r.headers['x-echo-name'] ?? '-'}`;
      seen.set(name, (seen.get(name) ?? 0) + 1);
    }
    return seen;
  };

  it('active http: traffic leaves a node answering 500 and returns after it recovers; /v1/healthcheck shows it', async () => {
    const f = await flappy('flap-a');
    await h.put('upstreams/act', { id: 'act', nodes: nodes(echo.port, f.port), checks: { active: { ...FAST_ACTIVE, http_path: '/health' } } });
    await h.put('routes/act', { uri: '/act/*', upstream_id: 'act' });
    // both healthy to begin with: round robin uses both
    expect([...(await spread('/act/x', 4)).keys()].sort()).toEqual(['200:flap-a', '200:steady']);

    f.mode = '500';
    await waitStatus('upstreams/act', f.port, 'unhealthy');
    const view = (await control()).find((u) => u.name.endsWith('upstreams/act'))!;
    expect(view.type).toBe('http');
    expect(view.nodes).toEqual(expect.arrayContaining([
      { ip: '127.0.0.1', port: echo.port, hostname: '127.0.0.1', status: 'healthy', counter: { success: 0, http_failure: 0, tcp_failure: 0, timeout_failure: 0 } },
      expect.objectContaining({ ip: '127.0.0.1', port: f.port, status: expect.stringMatching(/unhealthy/) }),
    ]));
    expect(await spread('/act/x', 10)).toEqual(new Map([['200:steady', 10]]));

    f.mode = 'ok';
    await waitStatus('upstreams/act', f.port, 'healthy');
    expect((await spread('/act/x', 4)).get('200:flap-a')).toBeGreaterThan(0);
  });

  it('passive: a node answering 500 to real traffic is marked unhealthy and skipped', async () => {
    const f = await flappy('flap-p');
    // Healthy nodes are never probed (interval 0), so only proxied traffic can mark one down;
    // the unhealthy loop brings it back once it answers 200 again.
    await h.put('upstreams/pas', {
      id: 'pas',
      nodes: nodes(echo.port, f.port),
      retries: 0,
      checks: {
        active: { ...FAST_ACTIVE, healthy: { interval: 0, successes: 1 } },
        passive: { unhealthy: { http_statuses: [500], http_failures: 2 } },
      },
    });
    await h.put('routes/pas', { uri: '/pas/*', upstream_id: 'pas' });
    f.mode = '500';
    const before = f.requests;
    await waitFor(async () => {
      await h.request('/pas/x');
      return (await nodeStatus('upstreams/pas', f.port)) === 'unhealthy';
    }, { what: 'passive detection', timeoutMs: 5000 });
    // two 500s flip it (threshold 2), with round robin that is about four requests
    expect(f.requests - before).toBeLessThanOrEqual(6);
    expect(await spread('/pas/x', 10)).toEqual(new Map([['200:steady', 10]]));

    f.mode = 'ok';
    await waitStatus('upstreams/pas', f.port, 'healthy');
    expect((await spread('/pas/x', 4)).get('200:flap-p')).toBeGreaterThan(0);
  });

  it('passive: connection failures count as tcp failures', async () => {
    const f = await flappy('flap-c');
    await h.put('upstreams/pasc', {
      id: 'pasc',
      nodes: nodes(echo.port, f.port),
      checks: {
        active: { ...FAST_ACTIVE, healthy: { interval: 0 }, unhealthy: { interval: 0 } },
        passive: { unhealthy: { tcp_failures: 2 } },
      },
    });
    await h.put('routes/pasc', { uri: '/pasc/*', upstream_id: 'pasc' });
    f.mode = 'close';
    // a closed connection is retried on the other node, so the client still gets 200s
    await waitFor(async () => {
      expect((await h.request('/pasc/x')).status).toBe(200);
      return (await nodeStatus('upstreams/pasc', f.port)) === 'unhealthy';
    }, { what: 'tcp failures detected', timeoutMs: 5000 });
    const before = f.requests;
    expect(await spread('/pasc/x', 6)).toEqual(new Map([['200:steady', 6]]));
    expect(f.requests).toBe(before);
  });

  it('when every node is unhealthy, all are tried anyway', async () => {
    const a = await flappy('all-a');
    const b = await flappy('all-b');
    a.mode = b.mode = '500';
    await h.put('upstreams/all', { id: 'all', nodes: nodes(a.port, b.port), checks: { active: FAST_ACTIVE } });
    await h.put('routes/all', { uri: '/all/*', upstream_id: 'all' });
    await waitStatus('upstreams/all', a.port, 'unhealthy');
    await waitStatus('upstreams/all', b.port, 'unhealthy');
    // not 502 "no valid upstream node": the request reaches the nodes, which answer 500
    const seen = await spread('/all/x', 4);
    expect(seen).toEqual(new Map([['500:all-a', 2], ['500:all-b', 2]]));
  });

  it('active tcp: a node that stops listening is skipped until it listens again', async () => {
    const f = await flappy('tcp');
    await h.put('upstreams/tcp', { id: 'tcp', nodes: nodes(echo.port, f.port), retries: 0, checks: { active: { ...FAST_ACTIVE, type: 'tcp' } } });
    await h.put('routes/tcp', { uri: '/tcp/*', upstream_id: 'tcp' });
    // a tcp check does not look at answers: a 500 node is still healthy
    f.mode = '500';
    expect((await spread('/tcp/x', 4)).get('500:tcp')).toBe(2);
    await f.stop();
    await waitStatus('upstreams/tcp', f.port, 'unhealthy');
    expect((await control()).find((u) => u.name.endsWith('upstreams/tcp'))!.type).toBe('tcp');
    // retries 0: a pick of the dead node would be a 502
    expect(await spread('/tcp/x', 6)).toEqual(new Map([['200:steady', 6]]));
    f.mode = 'ok';
    await f.restart();
    await waitStatus('upstreams/tcp', f.port, 'healthy');
    expect((await spread('/tcp/x', 4)).get('200:tcp')).toBeGreaterThan(0);
  });

  it('checkers stop with their upstream, and inline route upstreams are listed too', async () => {
    const registry = healthRegistryFor(h.gw.pools);
    const f = await flappy('inline');
    const before = registry.size;
    await h.put('routes/inline', { uri: '/inline/*', upstream: { nodes: nodes(f.port), checks: { active: FAST_ACTIVE } } });
    expect(registry.size).toBe(before + 1);
    expect((await control()).some((u) => u.nodes.some((n) => n.port === f.port))).toBe(true);
    // an unchanged re-PUT keeps the checker (and its state); a change replaces it
    await h.put('routes/inline', { uri: '/inline/*', upstream: { nodes: nodes(f.port), checks: { active: FAST_ACTIVE } } });
    expect(registry.size).toBe(before + 1);
    await h.del('routes/inline');
    expect(registry.size).toBe(before);
    expect((await control()).some((u) => u.nodes.some((n) => n.port === f.port))).toBe(false);
  });
});

describe('gateway stop', () => {
  it('clears every health checker', async () => {
    const h = await startHarness();
    const echo = await startEchoUpstream();
    try {
      await h.put('upstreams/u', { id: 'u', nodes: { [`127.0.0.1:${echo.port}`]: 1 }, checks: { active: FAST_ACTIVE } });
      const registry = healthRegistryFor(h.gw.pools);
      expect(registry.size).toBe(1);
      await waitFor(() => echo.requests >= 2, { what: 'active probes reach the node' });
      await h.close();
      expect(registry.size).toBe(0);
    } finally {
      await echo.close();
    }
  });
});
