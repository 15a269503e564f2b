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

/**
 * Ports this process handed out recently, with when: not handed out again for a while. Callers
 * starting several servers at once (a cluster's data planes, with Promise.all) each probe and
 * release their ports before their child binds them, and a random pick of one could land on a
 * port another had just been given (EADDRINUSE in a CI run).
 */
const handedOut = new Map<number, number>();
const HANDED_OUT_MS = 120_000;

function recentlyHandedOut(port: number, now: number): boolean {
  const at = handedOut.get(port);
  if (at === undefined) return false;
  if (now - at < HANDED_OUT_MS) return true;
  handedOut.delete(port);
  return false;
}

/** Closes a probe (it never accepted a connection, so its close completes at once). */
function release(server: net.Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

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
      if (port !== 0 && recentlyHandedOut(port, Date.now())) continue;
      const server = await probe(port);
      if (!server) continue;
      if (recentlyHandedOut((server.address() as net.AddressInfo).port, Date.now())) {
        await release(server);
        continue;
      }
      servers.push(server);
    }
    const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
    const now = Date.now();
    for (const port of ports) handedOut.set(port, now);
    return ports;
  } finally {
    await Promise.all(servers.map(release));
  }
}

/** One free TCP port on 127.0.0.1 (see freePorts for the caveat). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port;
}
