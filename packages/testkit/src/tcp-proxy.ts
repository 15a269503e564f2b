import { listenOnLoopback } from './listen';
import net from 'node:net';

/**
 * A loopback TCP relay that a test can cut: `partition()` drops every connection and refuses
 * new ones (the far side looks unreachable), `heal()` lets traffic through again. Used to
 * disconnect one node from etcd while the rest of the cluster goes on.
 */
export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  partition(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let partitioned = false;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const server = net.createServer((client) => {
    if (partitioned) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    track(client);
    track(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await listenOnLoopback(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    partition() {
      partitioned = true;
      for (const s of sockets) s.destroy();
    },
    heal() {
      partitioned = false;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
