import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { adminListenIp } from './admin-keys';
import { AdminAppOptions, createAdminApp } from './app';

export interface AdminServerOptions extends AdminAppOptions {
  /** Default `deployment.admin.admin_listen.ip`. */
  host?: string;
  /** Default `deployment.admin.admin_listen.port`; 0 picks a free port (tests). */
  port?: number;
}

export interface AdminServer {
  server: http.Server;
  port: number;
  /** Stops accepting, closes idle keep-alive connections, resolves when the server is closed. */
  close(): Promise<void>;
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const host = opts.host ?? adminListenIp(opts.config);
  const port = opts.port ?? opts.config.deployment.admin.admin_listen.port;
  // Keyless access depends on the address actually bound, not on the configured one.
  const app = createAdminApp({ ...opts, listenIp: opts.listenIp ?? host });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive clients (fetch) would otherwise hold close() open until they time out.
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
