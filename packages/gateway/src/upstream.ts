import type { Pool } from 'undici';
import type { PoolLease, PoolManager } from './pools';

/** The upstream fields the data plane uses (SPEC §4), as stored (defaults not applied). */
export interface UpstreamConf {
  nodes?: Record<string, number> | Array<{ host: string; port: number; weight: number; priority?: number }>;
  type?: string;
  scheme?: 'http' | 'https';
  pass_host?: 'pass' | 'node' | 'rewrite';
  upstream_host?: string;
  retries?: number;
  retry_timeout?: number;
  timeout?: TimeoutConf;
  keepalive_pool?: { size?: number; idle_timeout?: number; requests?: number };
  tls?: { verify?: boolean };
}

export interface TimeoutConf {
  connect?: number;
  send?: number;
  read?: number;
}

export interface UpstreamNode {
  host: string;
  port: number;
  weight: number;
  priority: number;
}

/** One balanced target: a node with its pool. */
export interface Target {
  readonly node: UpstreamNode;
  /** `http://host:port` (IPv6 hosts bracketed). */
  readonly origin: string;
  /** Host header for `pass_host: node`: the host, plus the port when it is not the scheme's default. */
  readonly hostHeader: string;
  readonly pool: Pool;
}

/**
 * Parses `nodes` in either form: `{"host:port": weight}` or `[{host, port, weight, priority}]`.
 * A host without a port gets 80 (http) or 443 (https).
 */
export function parseNodes(nodes: UpstreamConf['nodes'], scheme: 'http' | 'https'): UpstreamNode[] {
  const defPort = scheme === 'https' ? 443 : 80;
  if (!nodes) return [];
  if (Array.isArray(nodes)) {
    return nodes.map((n) => ({ host: stripBrackets(n.host), port: n.port ?? defPort, weight: n.weight, priority: n.priority ?? 0 }));
  }
  return Object.entries(nodes).map(([hostPort, weight]) => {
    const { host, port } = splitHostPort(hostPort, defPort);
    return { host, port, weight, priority: 0 };
  });
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `a:80` → a, 80; `[::1]:80` → ::1, 80; `::1` (bare IPv6) → ::1, default. */
export function splitHostPort(s: string, defPort: number): { host: string; port: number } {
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    const host = s.slice(1, close);
    const rest = s.slice(close + 1);
    return { host, port: rest.startsWith(':') ? Number(rest.slice(1)) || defPort : defPort };
  }
  const first = s.indexOf(':');
  if (first < 0) return { host: s, port: defPort };
  if (s.indexOf(':', first + 1) >= 0) return { host: s, port: defPort };
  return { host: s.slice(0, first), port: Number(s.slice(first + 1)) || defPort };
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Smooth weighted round robin (nginx's algorithm) over one priority group: every pick adds
 * each node's weight to its current weight, takes the largest, and subtracts the total from
 * it. Weights 5:1:1 give a a b a c a a — spread out, not bunched.
 */
class SmoothWeightedGroup {
  private readonly current: number[];

  constructor(readonly targets: readonly Target[]) {
    this.current = targets.map(() => 0);
  }

  pick(exclude?: ReadonlySet<Target>): Target | undefined {
    let total = 0;
    let best = -1;
    const t = this.targets;
    for (let i = 0; i < t.length; i++) {
      if (exclude?.has(t[i])) continue;
      const w = t[i].node.weight;
      this.current[i] += w;
      total += w;
      if (best < 0 || this.current[i] > this.current[best]) best = i;
    }
    if (best < 0) return undefined;
    this.current[best] -= total;
    return t[best];
  }
}

/**
 * An upstream as the proxy uses it: targets with pools, a balancer, and the connection
 * settings. Built when an upstream (or a route's inline upstream) is applied; disposed when
 * replaced, which releases its pools.
 */
export class UpstreamRuntime {
  readonly scheme: 'http' | 'https';
  readonly passHost: 'pass' | 'node' | 'rewrite';
  readonly upstreamHost?: string;
  readonly retries?: number;
  readonly retryTimeoutMs: number;
  readonly timeout: TimeoutConf;
  readonly targets: readonly Target[];
  /** Targets with weight > 0, grouped by priority, highest first. */
  private readonly groups: SmoothWeightedGroup[];
  private readonly leases: PoolLease[] = [];
  private disposed = false;

  constructor(readonly conf: UpstreamConf, private readonly pools: PoolManager) {
    this.scheme = conf.scheme ?? 'http';
    this.passHost = conf.pass_host ?? 'pass';
    this.upstreamHost = conf.upstream_host;
    this.retries = conf.retries;
    this.retryTimeoutMs = (conf.retry_timeout ?? 0) * 1000;
    this.timeout = conf.timeout ?? {};
    const settings = {
      idleTimeout: conf.keepalive_pool?.idle_timeout,
      requests: conf.keepalive_pool?.requests,
      tlsVerify: this.scheme === 'https' ? conf.tls?.verify : undefined,
    };
    const defPort = this.scheme === 'https' ? 443 : 80;
    const targets: Target[] = [];
    for (const node of parseNodes(conf.nodes, this.scheme)) {
      const origin = `${this.scheme}://${hostForUrl(node.host)}:${node.port}`;
      const lease = pools.acquire(origin, settings);
      this.leases.push(lease);
      const hostHeader = node.port === defPort ? hostForUrl(node.host) : `${hostForUrl(node.host)}:${node.port}`;
      targets.push({ node, origin, hostHeader, pool: lease.pool });
    }
    this.targets = targets;
    const byPriority = new Map<number, Target[]>();
    for (const t of targets) {
      if (t.node.weight <= 0) continue;
      const list = byPriority.get(t.node.priority) ?? [];
      list.push(t);
      byPriority.set(t.node.priority, list);
    }
    this.groups = [...byPriority.entries()].sort((a, b) => b[0] - a[0]).map(([, list]) => new SmoothWeightedGroup(list));
  }

  /** Number of nodes the balancer can pick (weight > 0). */
  get pickable(): number {
    let n = 0;
    for (const g of this.groups) n += g.targets.length;
    return n;
  }

  /**
   * The next target, skipping `exclude` (nodes already tried for this request). A lower
   * priority group is used only when every node of the higher ones is excluded.
   */
  pick(exclude?: ReadonlySet<Target>): Target | undefined {
    for (const g of this.groups) {
      const t = g.pick(exclude);
      if (t) return t;
    }
    return undefined;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.leases) this.pools.release(l);
  }
}
