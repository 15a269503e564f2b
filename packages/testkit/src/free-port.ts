import net from 'node:net';

/**
 * Ask the kernel for `count` distinct free TCP ports on 127.0.0.1.
 *
 * All listeners are held open until every port is known, so the same port is never handed
 * out twice by one call. There is an unavoidable window between closing the listener and the
 * caller binding the port; callers that spawn servers should retry on "address in use".
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve());
      });
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** One free TCP port on 127.0.0.1 (see freePorts for the caveat). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port;
}
