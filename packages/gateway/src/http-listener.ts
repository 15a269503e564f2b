import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A plain HTTP listener that can be closed with its open connections (control API, metrics). */
export class HttpListener {
  private server?: http.Server;

  constructor(private readonly handler: http.RequestListener) {}

  async listen(ip: string, port: number): Promise<number> {
    const server = http.createServer(this.handler);
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
