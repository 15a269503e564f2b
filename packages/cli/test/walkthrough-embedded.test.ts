import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  AwsSecretsEmulator, CLI_MAIN, EchoUpstream, PorticoProcess, startAwsSecretsEmulator, startEchoUpstream, startPortico, waitFor,
} from '@portico/testkit';
import { AWS_ACCESS_KEY_ID, AWS_REGION, AWS_SECRET_ACCESS_KEY, get, runWalkthrough, walkthroughCalls } from './walkthrough';

/**
 * What `make run` gives a user: one traditional process with the embedded store. The guide's
 * four admin calls succeed, the key works, and everything is still there after a restart.
 */
jest.setTimeout(60_000);

let aws: AwsSecretsEmulator;
let echo: EchoUpstream;
let node: PorticoProcess | undefined;

beforeAll(async () => {
  [aws, echo] = await Promise.all([
    startAwsSecretsEmulator({ region: AWS_REGION, credentials: [{ accessKeyId: AWS_ACCESS_KEY_ID, secretAccessKey: AWS_SECRET_ACCESS_KEY }] }),
    startEchoUpstream(),
  ]);
  aws.putSecret('apisix-secrets', { 'john-key-auth': 'john-key' });
});

afterAll(async () => {
  await node?.stop();
  await Promise.all([aws?.close(), echo?.close()]);
});

test('the repository config.yaml validates', () => {
  const out = execFileSync(process.execPath, [CLI_MAIN, 'validate', '-c', path.resolve(__dirname, '../../../config.yaml')], { encoding: 'utf8' });
  expect(out).toContain('config.yaml: ok');
});

test('walkthrough on the embedded store survives a restart', async () => {
  node = await startPortico({ name: 'embedded', role: 'traditional' });
  const opts = { endpointUrl: aws.endpoint, upstreamNode: `127.0.0.1:${echo.port}` };
  expect(await runWalkthrough(node.adminUrl, opts)).toEqual([201, 201, 201, 201]);
  await waitFor(async () => (await get(node!.proxyUrl + '/anything', 'john-key')).status === 200, { what: 'the key to work' });
  expect((await get(node.proxyUrl + '/anything', 'wrong-key')).status).toBe(401);

  const before = await Promise.all(walkthroughCalls(opts).map(async (c) => {
    const path = c.path.endsWith('/consumers') ? c.path + '/john'
      : c.path.endsWith('/credentials') ? c.path + '/cred-john-key-auth'
        : c.path.endsWith('/routes') ? c.path + '/getting-started-anything' : c.path;
    return { path, body: await (await fetch(node!.adminUrl + path)).json() };
  }));

  expect(await node.stop()).toBe(0); // clean shutdown on SIGTERM
  await node.restart();
  for (const { path, body } of before) {
    const res = await fetch(node.adminUrl + path);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(body);
  }
  expect((await get(node.proxyUrl + '/anything', 'john-key')).status).toBe(200);
});

test('the generated admin key is in data/admin.key (mode 0600) and never in the output, which says where it is', () => {
  const keyFile = path.join(node!.dataDir, 'data', 'admin.key');
  const key = fs.readFileSync(keyFile, 'utf8').trim();
  expect(key).toMatch(/^[A-Za-z0-9]{32}$/);
  expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
  const out = node!.log();
  expect(out).not.toContain(key);
  expect(out).toContain(keyFile);
});

test('SIGTERM lets an in-flight request finish, then exits 0', async () => {
  const proc = await startPortico({ name: 'drain', role: 'traditional' });
  try {
    const put = await fetch(proc.adminUrl + '/apisix/admin/routes/slow', {
      method: 'PUT', body: JSON.stringify({ uri: '/delay/*', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }),
    });
    expect(put.status).toBe(201);
    await waitFor(async () => (await get(proc.proxyUrl + '/delay/0')).status === 200, { what: 'the route to load' });
    const seen = echo.requests;
    const inflight = get(proc.proxyUrl + '/delay/1500');
    await waitFor(() => echo.requests > seen, { what: 'the upstream to receive the slow request' });
    const exit = proc.stop();
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).url).toBe('/delay/1500');
    expect(await exit).toBe(0);
  } finally {
    await proc.kill();
  }
});

test('a second process on the same data directory gets a clear error', async () => {
  expect(node).toBeDefined();
  await expect(startPortico({ name: 'second', role: 'traditional', dataDir: node!.dataDir }))
    .rejects.toThrow(/data directory .* is in use by another Portico process/);
});
