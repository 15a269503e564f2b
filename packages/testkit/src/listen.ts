import type net from 'node:net';

/** Starts `server` on a free 127.0.0.1 port and returns the port (every testkit server does this). */
export async function listenOnLoopback(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as net.AddressInfo).port;
}

/** What closeServer needs: an http or https server. */
export interface ClosableServer {
  close(cb?: (err?: Error) => void): unknown;
  closeAllConnections(): void;
}

/** Stops `server` and drops its keep-alive connections, so close() does not wait for clients. */
export function closeServer(server: ClosableServer): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** `server` listening on a free 127.0.0.1 port, with a close() that drops its connections. */
export async function serveOnLoopback<S extends net.Server & ClosableServer>(server: S): Promise<{ port: number; server: S; close(): Promise<void> }> {
  const port = await listenOnLoopback(server);
  return { port, server, close: () => closeServer(server) };
}
