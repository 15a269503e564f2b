import { listenOnLoopback } from './listen';
import net from 'node:net';

/**
 * A loopback TCP relay that a test can cut: `partition()` drops every connection and refuses
 * new ones (the far side looks unreachable), `heal()` lets traffic through again. Used to
 * disconnect one node from etcd while the rest of the cluster goes on. `setDelay(ms)` holds
 * every chunk that long in both directions (a slow or distant server), in order.
 */
export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  partition(): void;
  heal(): void;
  /** Delay (ms) added to each chunk from now on; 0 relays at once again. */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1', opts: { delayMs?: number } = {}): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let partitioned = false;
  let delayMs = opts.delayMs ?? 0;
  /**
   * src → dst, each chunk written `delayMs` after it arrived but never before the one ahead of
   * it (a delay lowered mid-stream must not reorder bytes). Undelayed chunks keep backpressure.
   */
  const relay = (src: net.Socket, dst: net.Socket) => {
    let lastAt = 0;
    let queued = 0;
    src.on('data', (chunk: Buffer) => {
      if (delayMs <= 0 && queued === 0) {
        if (!dst.write(chunk)) {
          src.pause();
          dst.once('drain', () => src.resume());
        }
        return;
      }
      const at = Math.max(Date.now() + delayMs, lastAt);
      lastAt = at;
      queued++;
      setTimeout(() => {
        queued--;
        if (!dst.destroyed) dst.write(chunk);
      }, at - Date.now());
    });
    src.on('end', () => setTimeout(() => dst.end(), Math.max(0, lastAt - Date.now())));
  };
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
    relay(client, upstream);
    relay(upstream, client);
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
    setDelay(ms: number) {
      delayMs = ms;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
