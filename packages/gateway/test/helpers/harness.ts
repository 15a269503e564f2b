import http from 'node:http';
import { DEFAULT_CONFIG, deepMerge, type Logger, type PorticoConfig } from '@portico/core';
import type { SecretResolver } from '@portico/secrets';
import { serveOnLoopback, waitFor } from '@portico/testkit';
import { createGateway, type Gateway } from '../../src';
import { tempEmbeddedStore } from './stores';

export const PREFIX = '/apisix';

export interface Harness {
  gw: Gateway;
  store: Awaited<ReturnType<typeof tempEmbeddedStore>>['store'];
  port: number;
  controlPort: number;
  metricsPort: number;
  /** PUT a resource (path under the prefix, e.g. `routes/1`) and wait until the gateway applied it. */
  put(path: string, value: unknown): Promise<number>;
  /** DELETE a resource and wait until applied. */
  del(path: string): Promise<void>;
  request(path: string, opts?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  port?: number;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json<T = any>(): T;
}

/** A config with defaults, nothing on fixed ports. */
export function testConfig(over: unknown = {}): PorticoConfig {
  return deepMerge(DEFAULT_CONFIG, over);
}

export async function startHarness(opts: { resolver?: SecretResolver; config?: unknown; logger?: Logger } = {}): Promise<Harness> {
  const { store, cleanup } = await tempEmbeddedStore();
  const gw = createGateway({
    store,
    config: testConfig(opts.config),
    resolver: opts.resolver,
    logger: opts.logger,
    listen: { proxy: [{ ip: '127.0.0.1', port: 0 }], control: { ip: '127.0.0.1', port: 0 }, metrics: { ip: '127.0.0.1', port: 0 } },
    poolLingerMs: 0,
    shutdownTimeoutMs: 2000,
  });
  const ports = await gw.start();
  await gw.whenReady();
  const port = ports.proxyPorts[0];
  const applied = (rev: number) => waitFor(() => gw.appliedRevision >= rev, { what: `revision ${rev} applied` });
  return {
    gw,
    store,
    port,
    controlPort: ports.controlPort!,
    metricsPort: ports.metricsPort!,
    async put(path, value) {
      const { revision } = await store.put(`${PREFIX}/${path}`, typeof value === 'string' ? value : JSON.stringify(value));
      await applied(revision);
      return revision;
    },
    async del(path) {
      const { revision } = await store.delete(`${PREFIX}/${path}`);
      await applied(revision);
    },
    request: (path, o = {}) => httpRequest(o.port ?? port, path, o),
    async close() {
      await gw.stop();
      await cleanup();
    },
  };
}

/** A plain node:http request (no keep-alive) that buffers the reply. */
export function httpRequest(port: number, path: string, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A throwaway upstream with a custom handler, for cases the echo upstream cannot provoke. */
export function startServer(handler: http.RequestListener, options: http.ServerOptions = {}): Promise<{ port: number; server: http.Server; close(): Promise<void> }> {
  return serveOnLoopback(http.createServer(options, handler));
}
