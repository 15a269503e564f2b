import path from 'node:path';
import { EchoUpstream, PorticoProcess, startEchoUpstream, startPortico, waitFor } from '@portico/testkit';

/**
 * The own HTTP/1.1 stack (packages/http1) rests on Node internals. On a Node.js without them a
 * node must still start and serve, on node:http's server and undici, and say so once at warn.
 */
const HIDE = path.join(__dirname, 'helpers', 'hide-http-internals.js');
/** make test also runs this suite with the override variables set: the nodes here must not inherit them. */
const NO_OVERRIDE = { PORTICO_HTTP_SERVER: '', PORTICO_UPSTREAM_CLIENT: '' };

let echo: EchoUpstream;
const nodes: PorticoProcess[] = [];

beforeAll(async () => {
  echo = await startEchoUpstream({ name: 'fallback-upstream' });
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await echo?.close();
});

async function putRoute(node: PorticoProcess): Promise<void> {
  const res = await fetch(`${node.adminUrl}/apisix/admin/routes/echo`, {
    method: 'PUT',
    body: JSON.stringify({ uri: '/echo', upstream: { type: 'roundrobin', nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }),
  });
  expect(res.status).toBe(201);
}

test('without the internals a node starts on node:http and undici, serves, and warns once each', async () => {
  const node = await startPortico({ name: 'no-internals', role: 'traditional', nodeArgs: ['-r', HIDE], env: NO_OVERRIDE });
  nodes.push(node);
  await putRoute(node);
  await waitFor(async () => (await fetch(`${node.proxyUrl}/echo`)).status === 200, { what: 'the route to serve' });
  const body = await (await fetch(`${node.proxyUrl}/echo?x=1`, { method: 'POST', body: 'hello' })).json() as { method: string; body: string };
  expect(body).toMatchObject({ method: 'POST', body: 'hello' });
  expect(await (await fetch(`${node.controlUrl}/v1/config`)).json()).toMatchObject({ http: { server: 'node', upstream_client: 'undici' } });
  const log = node.log();
  expect(log.match(/lacks the internals of Portico's own HTTP\/1\.1 server/g) ?? []).toHaveLength(1);
  expect(log.match(/lacks node's HTTP parser binding/g) ?? []).toHaveLength(1);
});

test('apisix.http.server and upstream_client choose node:http and undici without a warning', async () => {
  const node = await startPortico({
    name: 'chosen-fallbacks', role: 'traditional', env: NO_OVERRIDE, extraConfig: { apisix: { http: { server: 'node', upstream_client: 'undici' } } },
  });
  nodes.push(node);
  await putRoute(node);
  await waitFor(async () => (await fetch(`${node.proxyUrl}/echo`)).status === 200, { what: 'the route to serve' });
  expect(await (await fetch(`${node.controlUrl}/v1/config`)).json()).toMatchObject({ http: { server: 'node', upstream_client: 'undici' } });
  expect(node.log()).not.toMatch(/lacks the internals|lacks node's HTTP parser/);
});

test('by default a node runs the own server and client', async () => {
  const node = await startPortico({ name: 'own-stack', role: 'traditional', env: NO_OVERRIDE });
  nodes.push(node);
  expect(await (await fetch(`${node.controlUrl}/v1/config`)).json()).toMatchObject({ http: { server: 'own', upstream_client: 'own' } });
});
