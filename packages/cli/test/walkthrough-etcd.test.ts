import { randomBytes } from 'node:crypto';
import {
  AwsSecretsEmulator, EchoUpstream, EtcdProcess, PorticoProcess, TcpProxy, compactEtcd,
  startAwsSecretsEmulator, startEchoUpstream, startEtcd, startPortico, startTcpProxy, waitFor,
} from '@portico/testkit';
import { ENCRYPTED_PREFIX, EtcdStore } from '@portico/core';
import { AWS_ACCESS_KEY_ID, AWS_REGION, AWS_SECRET_ACCESS_KEY, get, runWalkthrough } from './walkthrough';

/**
 * The Foundation acceptance, end to end with separate OS processes: a real etcd, one control
 * plane, two data planes (the second reaches etcd through a relay the test can cut), the AWS
 * Secrets Manager emulator over HTTP with SigV4, and an echo upstream.
 */
jest.setTimeout(120_000);

const SECRET_TTL = 2;
const NOT_FOUND = { error_msg: '404 Route Not Found' };

let etcd: EtcdProcess;
let aws: AwsSecretsEmulator;
let echo: EchoUpstream;
let relay: TcpProxy;
let cp: PorticoProcess;
let dp1: PorticoProcess;
let dp2: PorticoProcess;
/** A data plane with a long secret TTL: no expiry-driven refresh can fall inside its floods. */
let dp3: PorticoProcess;
let nodes: PorticoProcess[];

const admin = (path: string, init?: RequestInit) => fetch(cp.adminUrl + '/apisix/admin' + path, init);

async function burst(n: number, send: (i: number) => Promise<number>, concurrency = 100): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i += concurrency) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(concurrency, n - i) }, (_, j) => send(i + j)))));
  }
  return out;
}

beforeAll(async () => {
  [etcd, aws, echo] = await Promise.all([
    startEtcd({ name: 'walkthrough' }),
    startAwsSecretsEmulator({ region: AWS_REGION, credentials: [{ accessKeyId: AWS_ACCESS_KEY_ID, secretAccessKey: AWS_SECRET_ACCESS_KEY }] }),
    startEchoUpstream({ name: 'httpbin' }),
  ]);
  aws.putSecret('apisix-secrets', { 'john-key-auth': 'john-key' });
  relay = await startTcpProxy(etcd.clientPort);
  const common = { etcd: [etcd.endpoint], secretTtl: SECRET_TTL, etcdTimeout: 3 };
  [cp, dp1, dp2, dp3] = await Promise.all([
    startPortico({ name: 'cp', role: 'control_plane', ...common }),
    startPortico({ name: 'dp1', role: 'data_plane', ...common }),
    startPortico({ name: 'dp2', role: 'data_plane', ...common, etcd: [relay.url] }),
    startPortico({ name: 'dp3', role: 'data_plane', ...common, secretTtl: 300 }),
  ]);
  nodes = [dp1, dp2];
});

afterAll(async () => {
  await Promise.all([cp, dp1, dp2, dp3].filter(Boolean).map((p) => p.stop()));
  await Promise.all([etcd?.stop(), aws?.close(), echo?.close(), relay?.close()]);
});

test('the walkthrough: four admin calls with the guide\'s exact bodies', async () => {
  const statuses = await runWalkthrough(cp.adminUrl, { endpointUrl: aws.endpoint, upstreamNode: `127.0.0.1:${echo.port}` });
  expect(statuses).toEqual([201, 201, 201, 201]);
  // Both data planes learn the route from etcd (401 = route found, key-auth answered).
  for (const node of [...nodes, dp3]) {
    await waitFor(async () => (await get(node.proxyUrl + '/anything')).status === 401, { what: `${node.name} to load the route` });
  }
  expect(aws.calls.total).toBe(0); // lazy: nothing fetched before a request needs it

  // At rest the credential's key and the provider's secret key are encrypted (SPEC §5.6).
  const store = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 5 });
  try {
    const cred = await store.get('/apisix/consumers/john/credentials/cred-john-key-auth');
    expect(cred?.value).toContain(ENCRYPTED_PREFIX);
    expect(cred?.value).not.toContain('apisix-secrets');
    expect((await store.get('/apisix/secrets/aws/john'))?.value).not.toContain(AWS_SECRET_ACCESS_KEY);
  } finally {
    await store.close();
  }
});

test('500 concurrent first requests to a cold node cause exactly one GetSecretValue', async () => {
  for (const node of [dp3]) {
    const before = aws.calls.byTarget.GetSecretValue ?? 0;
    const statuses = await burst(500, () => get(node.proxyUrl + '/anything', 'john-key').then((r) => r.status), 500);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect((aws.calls.byTarget.GetSecretValue ?? 0) - before).toBe(1);
  }
});

test('right key → 200 through both nodes with the consumer attached; wrong or missing key → 401', async () => {
  for (const node of nodes) {
    const ok = await get(node.proxyUrl + '/anything?x=1', 'john-key');
    expect(ok.status).toBe(200);
    const echoed = JSON.parse(ok.body);
    expect(echoed.url).toBe('/anything?x=1');
    expect(echoed.headers['x-consumer-username']).toBe('john');
    expect(echoed.headers['x-credential-identifier']).toBe('cred-john-key-auth');

    const wrong = await get(node.proxyUrl + '/anything', 'wrong-key');
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body)).toEqual({ message: 'Invalid API key in request' });
    expect(wrong.headers.get('www-authenticate')).toBe('apikey realm="key"');

    const missing = await get(node.proxyUrl + '/anything');
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body)).toEqual({ message: 'Missing API key in request' });
  }
});

test('2,000 requests with random wrong keys cause no provider call', async () => {
  const before = aws.calls.total;
  const statuses = await burst(2000, () =>
    get(dp3.proxyUrl + '/anything', randomBytes(12).toString('hex')).then((r) => r.status));
  expect(new Set(statuses)).toEqual(new Set([401]));
  expect(aws.calls.total - before).toBe(0);
});

test('a rotated secret: the new key works on both nodes within ttl + 2 s and the old one stops', async () => {
  aws.putSecret('apisix-secrets', { 'john-key-auth': 'john-key-rotated' });
  const started = Date.now();
  for (const node of nodes) {
    await waitFor(async () => (await get(node.proxyUrl + '/anything', 'john-key-rotated')).status === 200,
      { timeoutMs: (SECRET_TTL + 2) * 1000 - (Date.now() - started), intervalMs: 50, what: `${node.name} to accept the rotated key` });
    expect((await get(node.proxyUrl + '/anything', 'john-key')).status).toBe(401);
  }
});

test('changing the route changes behaviour on every node; deleting it → 404 everywhere', async () => {
  const res = await admin('/routes/getting-started-anything', {
    method: 'PUT',
    body: JSON.stringify({ uri: '/changed', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }),
  });
  expect(res.status).toBe(200);
  for (const node of nodes) {
    await waitFor(async () => (await get(node.proxyUrl + '/changed')).status === 200, { what: `${node.name} to apply the change` });
    expect(JSON.parse((await get(node.proxyUrl + '/anything', 'john-key-rotated')).body)).toEqual(NOT_FOUND);
  }
  expect((await admin('/routes/getting-started-anything', { method: 'DELETE' })).status).toBe(200);
  for (const node of nodes) {
    await waitFor(async () => (await get(node.proxyUrl + '/changed')).status === 404, { what: `${node.name} to drop the route` });
    expect(JSON.parse((await get(node.proxyUrl + '/changed')).body)).toEqual(NOT_FOUND);
  }
});

test('etcd stopped: nodes keep serving; a change made after it returns reaches them', async () => {
  const route = (uri: string) => ({ method: 'PUT', body: JSON.stringify({ uri, upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }) });
  expect((await admin('/routes/r-outage', route('/before-outage'))).status).toBe(201);
  for (const node of nodes) {
    await waitFor(async () => (await get(node.proxyUrl + '/before-outage')).status === 200, { what: `${node.name} to load r-outage` });
  }
  await etcd.kill();
  const during = await burst(200, (i) => get(nodes[i % 2].proxyUrl + '/before-outage').then((r) => r.status), 20);
  expect(during.filter((s) => s !== 200)).toEqual([]);
  const failedWrite = await admin('/routes/r-outage', route('/during-outage'));
  expect(failedWrite.status).toBe(503);

  await etcd.restart();
  await waitFor(async () => (await admin('/routes/r-outage', route('/after-outage'))).status === 200,
    { timeoutMs: 20_000, what: 'the control plane to write again' });
  for (const node of nodes) {
    await waitFor(async () => (await get(node.proxyUrl + '/after-outage')).status === 200,
      { timeoutMs: 30_000, what: `${node.name} to see the change made after etcd returned` });
  }
});

test('a compaction past a disconnected node\'s revision: it converges without a restart', async () => {
  const pidBefore = dp2.pid;
  relay.partition();
  const put = (id: string, uri: string) => admin(`/routes/${id}`, {
    method: 'PUT', body: JSON.stringify({ uri, upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }),
  });
  for (let i = 0; i < 5; i++) expect([200, 201]).toContain((await put('r-compact', `/compact-${i}`)).status);
  expect((await admin('/routes/r-outage', { method: 'DELETE' })).status).toBe(200);
  await waitFor(async () => (await get(dp1.proxyUrl + '/compact-4')).status === 200, { what: 'dp1 to apply the changes' });
  const compactedAt = await compactEtcd(etcd.endpoint);
  relay.heal();
  await waitFor(async () => (await get(dp2.proxyUrl + '/compact-4')).status === 200,
    { timeoutMs: 60_000, intervalMs: 100, what: 'dp2 to converge after the partition heals' });
  expect((await get(dp2.proxyUrl + '/compact-3')).status).toBe(404);
  expect((await get(dp2.proxyUrl + '/after-outage')).status).toBe(404);
  expect(dp2.pid).toBe(pidBefore);
  // Same process; it watches again and has applied the store at least up to the compaction.
  await waitFor(async () => {
    const state = (await (await fetch(dp2.controlUrl + '/v1/config')).json()) as { connected: boolean; revision: number };
    return state.connected && state.revision >= compactedAt;
  }, { timeoutMs: 30_000, what: 'dp2 to watch again from a revision past the compaction' });
});
