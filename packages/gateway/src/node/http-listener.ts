import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A plain HTTP server that can be closed with its open connections (control API, metrics):
 * subclasses answer in handle().
 */
export abstract class HttpListener {
  private server?: http.Server;

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): void;

  async listen(ip: string, port: number): Promise<number> {
    const server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, ip, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}
