import './helpers/quiet-logs';
import http from 'node:http';
import { startEchoUpstream, waitFor, type EchoUpstream } from '@portico/testkit';
import { createGateway } from '../src';
import { httpRequest, startHarness, testConfig } from './helpers/harness';
import { FlakyStore, tempEmbeddedStore } from './helpers/stores';

describe('Gateway lifecycle', () => {
  let echo: EchoUpstream;
  beforeAll(async () => {
    echo = await startEchoUpstream();
  });
  afterAll(() => echo.close());

  it('reports ready only once the first load is applied, and serves what it loaded', async () => {
    const { store, cleanup } = await tempEmbeddedStore();
    const flaky = new FlakyStore(store);
    flaky.down = true;
    await store.put('/apisix/routes/1', JSON.stringify({ uri: '/hello', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } }));
    const gw = createGateway({
      store: flaky,
      config: testConfig(),
      listen: { proxy: [{ ip: '127.0.0.1', port: 0 }], control: { ip: '127.0.0.1', port: 0 }, metrics: { ip: '127.0.0.1', port: 0 } },
      syncBackoff: { initialMs: 10, maxMs: 50 },
    });
    try {
      const { proxyPorts, controlPort } = await gw.start();
      const notReady = await httpRequest(controlPort!, '/status/ready');
      expect(notReady.status).toBe(503);
      expect((await httpRequest(controlPort!, '/v1/config')).json()).toMatchObject({ ready: false, revision: 0 });
      expect((await httpRequest(proxyPorts[0], '/hello')).status).toBe(404);

      flaky.restore();
      await waitFor(async () => (await httpRequest(controlPort!, '/status/ready')).status === 200, { what: 'ready' });
      expect(gw.ready).toBe(true);
      expect((await httpRequest(proxyPorts[0], '/hello')).status).toBe(200);

      // an outage later: still serving, not "unready"
      flaky.outage();
      await waitFor(() => !gw.sync.connected, { what: 'outage noticed' });
      expect((await httpRequest(proxyPorts[0], '/hello')).status).toBe(200);
      expect((await httpRequest(controlPort!, '/status/ready')).status).toBe(200);
      expect((await httpRequest(controlPort!, '/v1/config')).json()).toMatchObject({ ready: true, connected: false });
    } finally {
      await gw.stop();
      await cleanup();
    }
  });

  it('stop() lets in-flight requests finish, refuses new ones, and leaves the store open', async () => {
    const h = await startHarness();
    try {
      await h.put('routes/slow', { uri: '/delay/*', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });
      const inflight = h.request('/delay/300');
      await waitFor(() => h.gw.activeRequests === 1, { what: 'request in flight' });
      const stopping = h.gw.stop();
      expect((await inflight).status).toBe(200);
      await stopping;
      await expect(httpRequest(h.port, '/delay/1')).rejects.toThrow(/ECONNREFUSED/);
      expect((await h.store.range('/apisix')).items.length).toBeGreaterThan(0); // the caller's store is still open
    } finally {
      await h.close(); // stop() is idempotent
    }
  });

  it('routes by Host (port ignored, wildcard) through the proxy', async () => {
    const h = await startHarness();
    try {
      await h.put('routes/hosted', { uri: '/*', hosts: ['*.example.com'], upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });
      expect((await h.request('/x', { headers: { host: 'api.example.com:9080' } })).status).toBe(200);
      expect((await h.request('/x', { headers: { host: 'example.org' } })).status).toBe(404);
      await h.put('routes/hosted', { uri: '/*', hosts: ['*.example.com'], status: 0, upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });
      expect((await h.request('/x', { headers: { host: 'api.example.com' } })).status).toBe(404); // status 0: ignored
    } finally {
      await h.close();
    }
  });

  it('a client that aborts mid-upload does not hurt the gateway', async () => {
    const h = await startHarness();
    try {
      await h.put('routes/up', { uri: '/anything', upstream: { nodes: { [`127.0.0.1:${echo.port}`]: 1 } } });
      const req = http.request({ host: '127.0.0.1', port: h.port, path: '/anything', method: 'POST', agent: false,
        headers: { 'content-length': 10 * 1024 * 1024 } });
      req.on('error', () => undefined);
      req.write(Buffer.alloc(1024 * 1024));
      await waitFor(() => h.gw.activeRequests === 1, { what: 'upload in flight' });
      req.destroy();
      await waitFor(() => h.gw.activeRequests === 0, { what: 'request cleaned up' });
      expect((await h.request('/anything')).status).toBe(200);
    } finally {
      await h.close();
    }
  });
});
