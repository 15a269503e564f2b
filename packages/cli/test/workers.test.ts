import fs from 'node:fs';
import http from 'node:http';
import {
  AwsSecretsEmulator, EchoUpstream, EtcdProcess, PorticoProcess,
  startAwsSecretsEmulator, startEchoUpstream, startEtcd, startPortico, waitFor,
} from '@portico/testkit';
import { AWS_ACCESS_KEY_ID, AWS_REGION, AWS_SECRET_ACCESS_KEY, runWalkthrough } from './walkthrough';

/**
 * `apisix.workers: 2`: one node, one primary that owns the etcd watch and the secret
 * cache, two proxy workers fed over IPC. Real etcd, the AWS emulator over HTTP, separate OS
 * processes. Requests are sent on fresh connections so node:cluster's round-robin spreads
 * them over both workers.
 */
jest.setTimeout(120_000);

const SECRET_TTL = 2;

let etcd: EtcdProcess;
let aws: AwsSecretsEmulator;
let echo: EchoUpstream;
let cp: PorticoProcess;
let node: PorticoProcess;
let watchersBefore: number;

/** One request on its own connection (so consecutive requests reach different workers). */
function getFresh(url: string, apikey?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: apikey === undefined ? {} : { apikey } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function burst(n: number, send: () => Promise<number>, concurrency = 50): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += concurrency) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, send))));
  }
  return out;
}

/** etcd's own count of open watchers (all clients). */
async function etcdWatchers(): Promise<number> {
  const text = await (await fetch(`${etcd.endpoint}/metrics`)).text();
  const m = /^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(text);
  if (!m) throw new Error('etcd_debugging_mvcc_watcher_total missing from etcd metrics');
  return Number(m[1]);
}

/** Child processes of `pid` (the node's workers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // fields after the command name "(...)": state ppid ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return out.sort();
}

/** CPU ticks (user + system) a process has used. */
function cpuTicks(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function metricValue(text: string, series: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(series)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

beforeAll(async () => {
  [etcd, aws, echo] = await Promise.all([
    startEtcd({ name: 'workers' }),
    startAwsSecretsEmulator({ region: AWS_REGION, credentials: [{ accessKeyId: AWS_ACCESS_KEY_ID, secretAccessKey: AWS_SECRET_ACCESS_KEY }] }),
    startEchoUpstream({ name: 'workers-upstream' }),
  ]);
  aws.putSecret('apisix-secrets', { 'john-key-auth': 'john-key' });
  cp = await startPortico({ name: 'cp', role: 'control_plane', etcd: [etcd.endpoint] });
  watchersBefore = await etcdWatchers();
  node = await startPortico({
    name: 'dp-2-workers', role: 'data_plane', etcd: [etcd.endpoint], secretTtl: SECRET_TTL, extraConfig: { apisix: { workers: 2 } },
  });
  // ready = one worker answers /status/ready; the primary says when every worker listens
  await waitFor(() => node.log().includes('proxy workers listening'), { what: 'both workers to listen' });
});

afterAll(async () => {
  await Promise.all([cp, node].filter(Boolean).map((p) => p.stop()));
  await Promise.all([etcd?.stop(), aws?.close(), echo?.close()]);
});

test('a node with 2 workers runs 2 worker processes and opens one etcd watch', async () => {
  expect(childrenOf(node.pid!)).toHaveLength(2);
  await waitFor(async () => (await etcdWatchers()) > watchersBefore, { what: 'the node to watch etcd' });
  expect((await etcdWatchers()) - watchersBefore).toBe(1);
});

test('the walkthrough through 2 workers: 500 cold concurrent requests cause exactly one GetSecretValue', async () => {
  const statuses = await runWalkthrough(cp.adminUrl, { endpointUrl: aws.endpoint, upstreamNode: `127.0.0.1:${echo.port}` });
  expect(statuses).toEqual([201, 201, 201, 201]);
  // Every worker has the route: 20 fresh connections in a row all find it (401 = key-auth answered).
  await waitFor(async () => (await burst(20, () => getFresh(node.proxyUrl + '/anything').then((r) => r.status), 1)).every((s) => s === 401),
    { what: 'both workers to load the route' });
  expect(aws.calls.byTarget.GetSecretValue ?? 0).toBe(0);

  const [w1, w2] = childrenOf(node.pid!);
  const cpu = [cpuTicks(w1), cpuTicks(w2)];
  const results = await burst(500, () => getFresh(node.proxyUrl + '/anything', 'john-key').then((r) => r.status), 500);
  expect(results.filter((s) => s !== 200)).toEqual([]);
  expect(aws.calls.byTarget.GetSecretValue ?? 0).toBe(1);
  // Both workers did work (round-robin over connections).
  expect(cpuTicks(w1)).toBeGreaterThan(cpu[0]);
  expect(cpuTicks(w2)).toBeGreaterThan(cpu[1]);
});

test('the node\'s metrics count every worker\'s requests, and its secret fetches once', async () => {
  const before = metricValue(await (await fetch(node.metricsUrl)).text(), 'portico_http_requests_total{route="getting-started-anything",code="200"}');
  const statuses = await burst(40, () => getFresh(node.proxyUrl + '/anything', 'john-key').then((r) => r.status), 10);
  expect(statuses.every((s) => s === 200)).toBe(true);
  const text = await (await fetch(node.metricsUrl)).text();
  expect(metricValue(text, 'portico_http_requests_total{route="getting-started-anything",code="200"}') - before).toBe(40);
  expect(metricValue(text, 'portico_secret_fetches_total{manager="aws"}')).toBeGreaterThanOrEqual(1);
  // one revision for the node, not a sum over its processes
  const revision = metricValue(text, 'portico_config_revision');
  const control = await (await fetch(node.controlUrl + '/v1/config')).json() as { revision: number };
  expect(revision).toBe(control.revision);
});

test('a rotated secret reaches both workers within ttl + 2 s, with one provider call per TTL', async () => {
  const calls0 = aws.calls.byTarget.GetSecretValue ?? 0;
  const t0 = Date.now();
  aws.putSecret('apisix-secrets', { 'john-key-auth': 'john-key-2' });
  await waitFor(async () => (await burst(10, () => getFresh(node.proxyUrl + '/anything', 'john-key-2').then((r) => r.status), 1)).every((s) => s === 200),
    { timeoutMs: (SECRET_TTL + 2) * 1000 + 2000, intervalMs: 100, what: 'the new key on both workers' });
  expect(Date.now() - t0).toBeLessThan((SECRET_TTL + 2) * 1000 + 2000);
  const old = await burst(10, () => getFresh(node.proxyUrl + '/anything', 'john-key').then((r) => r.status), 1);
  expect(new Set(old)).toEqual(new Set([401]));
  // 2 workers, but the primary fetched: at most one call per TTL (+1 for the window edges).
  const elapsedTtls = (Date.now() - t0) / (SECRET_TTL * 1000);
  expect((aws.calls.byTarget.GetSecretValue ?? 0) - calls0).toBeLessThanOrEqual(Math.ceil(elapsedTtls) + 1);
});

test('a route change reaches every worker', async () => {
  const res = await fetch(cp.adminUrl + '/apisix/admin/routes/getting-started-anything', {
    method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ uri: '/moved' }),
  });
  expect(res.status).toBe(200);
  await waitFor(async () => (await burst(10, () => getFresh(node.proxyUrl + '/moved', 'john-key-2').then((r) => r.status), 1)).every((s) => s === 200),
    { what: 'both workers to apply the change' });
  const gone = await burst(10, () => getFresh(node.proxyUrl + '/anything', 'john-key-2').then((r) => r.status), 1);
  expect(new Set(gone)).toEqual(new Set([404]));
});

test('wait_revision answers only once every worker serves the revision', async () => {
  for (let i = 0; i < 5; i++) {
    const uri = `/wait-${i}`;
    const put = await fetch(cp.adminUrl + '/apisix/admin/routes/wait', {
      method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uri, upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }),
    });
    expect(put.status).toBeLessThan(300);
    const revision = put.headers.get('x-config-revision');
    expect(revision).toMatch(/^\d+$/);
    const wait = await fetch(`${cp.adminUrl}/apisix/admin/cluster/nodes?wait_revision=${revision}&timeout=10`);
    expect(wait.status).toBe(200);
    // no polling: once the registry says so, both workers serve it
    const statuses = await burst(10, () => getFresh(node.proxyUrl + uri).then((r) => r.status), 1);
    expect(statuses).toEqual(Array(10).fill(200));
  }
});

test('limit-count and limit-req count per node, not per worker', async () => {
  const upstream = { type: 'roundrobin', nodes: { [`127.0.0.1:${echo.port}`]: 1 } };
  const put = (id: string, body: unknown) => fetch(`${cp.adminUrl}/apisix/admin/routes/${id}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  }).then((r) => r.status);
  expect(await put('count', { uri: '/limited-count', plugins: { 'limit-count': { count: 5, time_window: 60, rejected_code: 429 } }, upstream })).toBe(201);
  expect(await put('req', { uri: '/limited-req', plugins: { 'limit-req': { rate: 0.01, burst: 0, key: 'remote_addr', rejected_code: 429, nodelay: true } }, upstream })).toBe(201);
  // both workers have the routes (a 404 means one has not; 429s spent here are counted below)
  const spent = { count: 0, req: 0 };
  await waitFor(async () => {
    const s = await burst(4, () => getFresh(node.proxyUrl + '/limited-count').then((r) => r.status), 1);
    spent.count += s.filter((x) => x === 200).length;
    return s.every((x) => x !== 404);
  }, { what: 'both workers to load the limit-count route' });
  await waitFor(async () => {
    const s = await burst(4, () => getFresh(node.proxyUrl + '/limited-req').then((r) => r.status), 1);
    spent.req += s.filter((x) => x === 200).length;
    return s.every((x) => x !== 404);
  }, { what: 'both workers to load the limit-req route' });

  // 5 per 60 s for the node: 20 requests alternating over both workers admit 5 in all, not 10
  const counts = await burst(20, () => getFresh(node.proxyUrl + '/limited-count').then((r) => r.status), 1);
  expect(spent.count + counts.filter((s) => s === 200).length).toBe(5);
  expect(counts.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  // 0.01 per second, no burst: one request in 100 s for the node, whichever worker answers
  const reqs = await burst(10, () => getFresh(node.proxyUrl + '/limited-req').then((r) => r.status), 1);
  expect(spent.req + reqs.filter((s) => s === 200).length).toBe(1);
});

test('a worker that dies is replaced and the new one gets the configuration', async () => {
  const [victim, survivor] = childrenOf(node.pid!);
  process.kill(victim, 'SIGKILL');
  await waitFor(() => {
    const now = childrenOf(node.pid!);
    return now.length === 2 && !now.includes(victim) && now.includes(survivor);
  }, { timeoutMs: 15_000, what: 'a replacement worker' });
  await waitFor(async () => (await burst(10, () => getFresh(node.proxyUrl + '/moved', 'john-key-2').then((r) => r.status).catch(() => 0), 1)).every((s) => s === 200),
    { what: 'the replacement worker to serve the route with the secret-backed key' });
  expect(node.log()).toContain('proxy worker exited; starting a new one');
});

test('SIGTERM stops the workers and the node, exit code 0', async () => {
  const pid = node.pid!;
  const workers = childrenOf(pid);
  expect(await node.stop()).toBe(0);
  for (const w of workers) expect(fs.existsSync(`/proc/${w}`)).toBe(false);
});

test('embedded store with 2 workers: admin writes reach both workers; bad workers values are refused', async () => {
  const embedded = await startPortico({ name: 'embedded-2-workers', role: 'traditional', extraConfig: { apisix: { workers: 2 } } });
  try {
    await waitFor(() => embedded.log().includes('proxy workers listening'), { what: 'both workers to listen' });
    expect(childrenOf(embedded.pid!)).toHaveLength(2);
    const put = await fetch(embedded.adminUrl + '/apisix/admin/routes/r1', {
      method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uri: '/echo', upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }),
    });
    expect(put.status).toBe(201);
    await waitFor(async () => (await burst(10, () => getFresh(embedded.proxyUrl + '/echo').then((r) => r.status), 1)).every((s) => s === 200),
      { what: 'both workers to serve the new route' });
  } finally {
    expect(await embedded.stop()).toBe(0);
  }
  await expect(startPortico({ name: 'bad-workers', role: 'traditional', extraConfig: { apisix: { workers: 0 } } }))
    .rejects.toThrow(/apisix\.workers/);
});

test('SIGTERM while the workers are still starting: the node finishes starting, then stops with exit 0', async () => {
  // testkit's ready = the first worker answers; the second may still be starting when SIGTERM lands
  const early = await startPortico({ name: 'early-stop', role: 'traditional', extraConfig: { apisix: { workers: 2 } } });
  const code = await early.stop();
  // the log says why when it did not stop cleanly
  if (code !== 0) throw new Error(`exit code ${code}; log:\n${early.log().slice(-6000)}`);
  expect(early.log()).toContain('stopped');
});
