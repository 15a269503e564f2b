import { parseNodeAddress } from '@portico/core';
import { ConsistentHashBalancer, type HashOn } from './balancers/chash';
import { EwmaBalancer } from './balancers/ewma';
import { LeastConnBalancer } from './balancers/least-conn';
import { RoundRobinBalancer } from './balancers/roundrobin';
import type { Balancer } from './balancers/types';
import type { RequestContext } from '../server/request-context';
import type { PoolLease, PoolManager, UpstreamPool } from './pools';
import { HealthChecker } from './health/checker';
import { resolveChecks, type ChecksConf } from './health/config';
import { healthRegistryFor } from './health/registry';

/** `timeout` of an upstream without one: shared, so 10k upstreams do not hold 10k empty objects. */
const NO_TIMEOUT: TimeoutConf = Object.freeze({});

/** The upstream fields the data plane uses (SPEC §4), as stored (defaults not applied). */
export interface UpstreamConf {
  nodes?: Record<string, number> | Array<{ host: string; port: number; weight: number; priority?: number }>;
  type?: string;
  hash_on?: HashOn;
  key?: string;
  scheme?: 'http' | 'https';
  pass_host?: 'pass' | 'node' | 'rewrite';
  upstream_host?: string;
  retries?: number;
  retry_timeout?: number;
  timeout?: TimeoutConf;
  keepalive_pool?: { size?: number; idle_timeout?: number; requests?: number };
  tls?: { verify?: boolean; client_cert?: string; client_key?: string };
  checks?: ChecksConf;
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
  readonly pool: UpstreamPool;
  /**
   * TLS server name for https nodes: `upstream_host` with `pass_host: rewrite`, else the node
   * host (the pool drops it for IP nodes). Passed on every request so the name is stable.
   */
  readonly servername?: string;
}

/**
 * Parses `nodes` in either form: `{"host:port": weight}` or `[{host, port, weight, priority}]`.
 * A host without a port gets 80 (http) or 443 (https). Object keys are parsed by core's
 * parseNodeAddress, the function the Admin API and the item's validation check them with; an
 * invalid one (which validation keeps from getting here) throws.
 */
export function parseNodes(nodes: UpstreamConf['nodes'], scheme: 'http' | 'https'): UpstreamNode[] {
  const defPort = scheme === 'https' ? 443 : 80;
  if (!nodes) return [];
  if (Array.isArray(nodes)) {
    return nodes.map((n) => ({ host: stripBrackets(n.host), port: n.port ?? defPort, weight: n.weight, priority: n.priority ?? 0 }));
  }
  return Object.entries(nodes).map(([hostPort, weight]) => {
    const { host, port } = parseNodeAddress(hostPort);
    return { host, port: port ?? defPort, weight, priority: 0 };
  });
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `a:80` → a, 80; `[::1]:80` → ::1, 80; `::1` (bare IPv6) → ::1, default. For Host header values. */
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

/** `upstream_host` without a port (it is a Host header value). */
function hostOnly(hostHeader: string): string {
  return splitHostPort(hostHeader, 0).host;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Builds the balancer of one priority group for the upstream's `type`. */
function createBalancer(conf: UpstreamConf, targets: readonly Target[]): Balancer {
  switch (conf.type) {
    case 'chash': return new ConsistentHashBalancer(targets, conf.hash_on ?? 'vars', conf.key ?? 'remote_addr');
    case 'least_conn': return new LeastConnBalancer(targets);
    case 'ewma': return new EwmaBalancer(targets);
    default: return new RoundRobinBalancer(targets);
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
  private readonly groups: Balancer[];
  /** Which group's balancer a target belongs to (for `release`); only for balancers that count. */
  private readonly counting?: Map<Target, Balancer>;
  /** Which group's balancer a target belongs to, for balancers that learn latencies (ewma). */
  private readonly learning?: Map<Target, Balancer>;
  private readonly leases: readonly PoolLease[];
  private disposed = false;
  /** Set when the upstream has `checks`: unhealthy nodes are skipped by `pick`. */
  readonly health?: HealthChecker;

  /** `key`: the store key, naming the upstream in `/v1/healthcheck`. */
  constructor(readonly conf: UpstreamConf, private readonly pools: PoolManager, warn?: (msg: string) => void, key?: string) {
    this.scheme = conf.scheme ?? 'http';
    this.passHost = conf.pass_host ?? 'pass';
    this.upstreamHost = conf.upstream_host;
    this.retries = conf.retries;
    this.retryTimeoutMs = (conf.retry_timeout ?? 0) * 1000;
    this.timeout = conf.timeout ?? NO_TIMEOUT;
    const settings = {
      idleTimeout: conf.keepalive_pool?.idle_timeout,
      requests: conf.keepalive_pool?.requests,
      tlsVerify: this.scheme === 'https' ? conf.tls?.verify ?? true : undefined,
      clientCert: this.scheme === 'https' ? conf.tls?.client_cert : undefined,
      clientKey: this.scheme === 'https' ? conf.tls?.client_key : undefined,
    };
    const rewriteSni = this.scheme === 'https' && this.passHost === 'rewrite' && this.upstreamHost
      ? hostOnly(this.upstreamHost) : undefined;
    const defPort = this.scheme === 'https' ? 443 : 80;
    // Arrays here are built with `map`/`slice` (exact length), not `push`: a pushed-to array
    // reserves 17 slots (152 bytes), and with 10k routes with inline upstreams these per-upstream
    // arrays and maps were ~10 MB of the heap (docs/performance.md, "10k routes").
    const nodes = parseNodes(conf.nodes, this.scheme);
    const leases = nodes.map((node) => pools.acquire(`${this.scheme}://${hostForUrl(node.host)}:${node.port}`, settings));
    this.leases = leases;
    const targets: Target[] = nodes.map((node, i) => ({
      node,
      origin: leases[i].origin,
      hostHeader: node.port === defPort ? hostForUrl(node.host) : `${hostForUrl(node.host)}:${node.port}`,
      pool: leases[i].pool,
      servername: this.scheme === 'https' ? rewriteSni ?? node.host : undefined,
    }));
    this.targets = targets;
    const priorities = [...new Set(targets.filter((t) => t.node.weight > 0).map((t) => t.node.priority))].sort((a, b) => b - a);
    this.groups = priorities.map((prio) => {
      const list = targets.filter((t) => t.node.weight > 0 && t.node.priority === prio);
      // one group with every node (the common case) shares the targets array
      return createBalancer(conf, list.length === targets.length ? targets : list.slice());
    });
    for (const g of this.groups) {
      if (g.release) for (const t of g.targets) (this.counting ??= new Map()).set(t, g);
      if (g.observe) for (const t of g.targets) (this.learning ??= new Map()).set(t, g);
    }
    const checks = resolveChecks(conf.checks);
    if (checks && targets.length > 0) {
      const id = (conf as { id?: unknown }).id;
      const name = key ?? (id !== undefined ? `upstreams/${String(id)}` : `inline:${targets.map((t) => t.origin).join(',')}`);
      this.health = new HealthChecker(name, targets, checks, (t, healthy, why) =>
        warn?.(`upstream node ${t.origin} is now ${healthy ? 'healthy' : 'unhealthy'} (${why})`));
      healthRegistryFor(pools).add(this.health);
      this.health.start();
    }
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
  pick(exclude?: ReadonlySet<Target>, ctx?: RequestContext): Target | undefined {
    if (this.health?.anyUnhealthy) exclude = this.withUnhealthy(exclude);
    for (const g of this.groups) {
      const t = g.pick(exclude, ctx);
      if (t) return t;
    }
    return undefined;
  }

  /**
   * `exclude` plus the unhealthy nodes — unless every pickable node is unhealthy: then all are
   * tried (APISIX), since a guess beats a certain 502. Only built while some node is unhealthy.
   */
  private withUnhealthy(exclude: ReadonlySet<Target> | undefined): ReadonlySet<Target> | undefined {
    const h = this.health!;
    const out = new Set(exclude);
    let healthy = 0;
    for (const g of this.groups) {
      for (const t of g.targets) {
        if (h.isHealthy(t)) healthy++;
        else out.add(t);
      }
    }
    return healthy > 0 ? out : exclude;
  }

  /** `t` answered with `status`, `latencyMs` after the request was sent (passive checks, ewma). */
  reportResponse(t: Target, status: number, latencyMs: number): void {
    this.health?.reportStatus(t, status);
    this.learning?.get(t)?.observe!(t, latencyMs);
  }

  /** The request to `t` failed before any answer: a connect error or reset, or a timeout. */
  reportFailure(t: Target, kind: 'tcp_failure' | 'timeout_failure'): void {
    this.health?.reportFailure(t, kind);
  }

  /** The request sent to `t` (from `pick`) is over, whatever its outcome. */
  release(t: Target): void {
    this.counting?.get(t)?.release!(t);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.health) {
      this.health.stop();
      healthRegistryFor(this.pools).remove(this.health);
    }
    for (const l of this.leases) this.pools.release(l);
  }
}
