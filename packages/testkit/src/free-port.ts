import fs from 'node:fs';
import net from 'node:net';

/**
 * Ports handed to servers that bind them later. The kernel's own choice (port 0) comes from
 * the ephemeral range, which every outgoing connection draws from too: under a parallel test
 * run (floods of client connections), a port probed free here was often taken as some
 * client's local port before the server bound it (EADDRINUSE). Ports just below that range
 * are never used by outgoing connections; random picks keep parallel jest workers apart.
 */
const candidateRange: [number, number] | undefined = (() => {
  try {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low > 11_024 ? [low - 10_000, low - 1] : undefined;
  } catch {
    return undefined; // not Linux: the kernel's choice
  }
})();

function probe(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server));
  });
}

/**
 * `count` distinct free TCP ports on 127.0.0.1. All probes are held open until every port is
 * known, so one call never returns a port twice. A window remains between the probe closing
 * and the caller binding; see above for why it is rarely hit.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let tries = 0; servers.length < count; tries++) {
      const port = candidateRange && tries < 1000
        ? candidateRange[0] + Math.floor(Math.random() * (candidateRange[1] - candidateRange[0] + 1))
        : 0;
      const server = await probe(port);
      if (server) servers.push(server);
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
