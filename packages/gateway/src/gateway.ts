import { readFileSync } from 'node:fs';
import { componentLogger, type ConfigStore, type FieldCipher, type Logger, type PorticoConfig } from '@portico/core';
import { SecretResolver, type SecretCache } from '@portico/secrets';
import { ConfigSync } from './config/config-sync';
import type { ConfigSource } from './config/config-source';
import { ControlServer } from './node/control';
import { GatewayMetrics, MetricsServer } from './node/metrics';
import { BUILTIN_PLUGINS } from './plugins';
import { PoolManager } from './upstream/pools';
import { healthRegistryFor } from './upstream/health/registry';
import { ProxyServer, type ListenAddress } from './server/proxy';
import { GatewayTables } from './config/gateway-tables';

export interface GatewayOptions {
  /** Where configuration is read from; ignored when `source` is given. */
  store?: ConfigStore;
  /**
   * An existing configuration source, e.g. a ConfigSync the caller also seeds from a snapshot,
   * or a worker's RemoteConfig. The gateway starts and stops it.
   */
  source?: ConfigSource;
  config: PorticoConfig;
  /** Key prefix; default `config.deployment.etcd.prefix` (`/apisix`). */
  prefix?: string;
  /** Secret cache to use; by default the gateway builds one from `apisix.lru.secret` and owns it. */
  resolver?: SecretCache;
  logger?: Logger;
  /** Override listen addresses (tests use port 0). `control: false` disables the control API. */
  listen?: { proxy?: Array<number | ListenAddress>; control?: ListenAddress | false; metrics?: ListenAddress | false };
  /** How long an unused upstream pool lingers before it closes (default 5000 ms). */
  poolLingerMs?: number;
  /** How long stop() lets in-flight requests run (default 10000 ms). */
  shutdownTimeoutMs?: number;
  /** ConfigSync retry backoff. */
  syncBackoff?: { initialMs?: number; maxMs?: number };
  /**
   * Field cipher for values encrypted at rest (SPEC §5.6), e.g. core's
   * `fieldCipherFromConfig(config, dataDir)`. Without one, items with encrypted fields are skipped.
   */
  cipher?: FieldCipher;
}

export interface GatewayPorts {
  proxyPorts: number[];
  /** undefined when the control API is disabled */
  controlPort?: number;
  /** undefined when the metrics listener is disabled */
  metricsPort?: number;
}

/**
 * The data plane: ConfigSync feeding the derived tables, the proxy listeners and the control
 * API. The store belongs to the caller: stop() never closes it.
 */
export class Gateway {
  readonly sync: ConfigSource;
  readonly tables: GatewayTables;
  readonly resolver: SecretCache;
  readonly pools: PoolManager;
  private readonly opts: GatewayOptions;
  private readonly log: Logger;
  private readonly ownsResolver: boolean;
  private readonly proxy: ProxyServer;
  private readonly control: ControlServer;
  readonly metrics: GatewayMetrics;
  private readonly metricsServer: MetricsServer;
  private unsubscribe?: () => void;
  private state: 'new' | 'started' | 'stopped' = 'new';

  constructor(opts: GatewayOptions) {
    this.opts = opts;
    const cfg = opts.config;
    this.log = opts.logger ?? componentLogger('gateway');
    this.ownsResolver = !opts.resolver;
    this.resolver = opts.resolver ?? secretResolverFor(cfg, this.log);
    // `apisix.ssl.ssl_trusted_certificate`: https upstreams are verified against this bundle
    // (only it: it replaces Node's roots); "system" keeps Node's default roots.
    const caPath = cfg.apisix.ssl?.ssl_trusted_certificate;
    const ca = caPath && caPath !== 'system' ? readFileSync(caPath) : undefined;
    this.pools = new PoolManager({ lingerMs: opts.poolLingerMs, ca, client: cfg.apisix.http?.upstream_client });
    this.tables = new GatewayTables({
      pools: this.pools,
      plugins: BUILTIN_PLUGINS,
      resolver: this.resolver,
      logger: this.log.child({ component: 'tables' }),
    });
    if (!opts.source && !opts.store) throw new Error('createGateway needs a store or a source');
    this.sync = opts.source ?? configSyncFor(cfg, opts.store!, this.log, { prefix: opts.prefix, cipher: opts.cipher, backoff: opts.syncBackoff });
    const sync = this.sync;
    const tables = this.tables;
    const resolver = this.resolver;
    this.metrics = new GatewayMetrics({
      appliedRevision: () => sync.appliedRevision,
      watchResets: () => sync.resets,
      rejectedItems: () => sync.rejectedItems?.().length ?? 0,
      rejections: () => sync.rejections ?? 0,
      secretStats: () => resolver.stats(),
    });
    this.metricsServer = new MetricsServer(this.metrics);
    this.proxy = new ProxyServer({
      tables: () => this.tables,
      logger: this.log.child({ component: 'proxy' }),
      metrics: this.metrics,
      http: cfg.apisix.http,
      ca,
    });
    this.control = new ControlServer({
      get ready() { return sync.ready; },
      get appliedRevision() { return sync.appliedRevision; },
      get connected() { return sync.connected; },
      get resets() { return sync.resets; },
      get lastError() { return sync.lastError; },
      get snapshot() { return sync.snapshot; },
      rejected: () => (sync.rejectedItems?.() ?? []).map((r) => ({ key: r.key, mod_revision: r.modRevision, reason: r.reason, kept_previous: r.keptPrevious })),
      http: { server: this.proxy.serverKind, upstream_client: this.pools.clientKind },
      routes: () => [...tables.routes.values()].map(routeView),
      route: (id) => {
        const r = tables.routes.get(id);
        return r ? routeView(r) : undefined;
      },
      upstreams: () => [...tables.upstreams.entries()].map(([id, u]) => ({ id, value: u.conf })),
      healthchecks: () => healthRegistryFor(this.pools).views(),
    });
  }

  /** Highest store revision applied to the tables. */
  get appliedRevision(): number {
    return this.sync.appliedRevision;
  }

  /** True once the first configuration load is applied. */
  get ready(): boolean {
    return this.sync.ready;
  }

  /** Proxy requests being handled right now. */
  get activeRequests(): number {
    return this.proxy.activeRequests;
  }

  whenReady(): Promise<void> {
    return this.sync.whenReady();
  }

  /**
   * Starts syncing and listening. Resolves once the listeners are bound; the configuration
   * may still be loading (see `ready` / `whenReady()`; until then routes answer 404).
   */
  async start(): Promise<GatewayPorts> {
    if (this.state !== 'new') throw new Error(`gateway already ${this.state}`);
    this.state = 'started';
    const cfg = this.opts.config;
    // Timed here rather than in tables so the apply latency metric covers every batch.
    const metrics = this.metrics;
    const apply = this.tables.apply;
    this.unsubscribe = this.sync.subscribe((changes) => {
      const t0 = performance.now();
      try {
        apply(changes);
      } finally {
        metrics.configApplied(performance.now() - t0);
      }
    });
    this.sync.start();
    try {
      const listen = (this.opts.listen?.proxy ?? cfg.apisix.node_listen).map((l): ListenAddress => (typeof l === 'number' ? { port: l } : l));
      const proxyPorts = await this.proxy.listen(listen);
      const controlAddr = this.opts.listen?.control ?? cfg.control;
      const controlPort = controlAddr === false ? undefined : await this.control.listen(controlAddr.ip ?? '127.0.0.1', controlAddr.port);
      const metricsAddr = this.opts.listen?.metrics ?? cfg.metrics;
      const metricsPort = metricsAddr === false ? undefined : await this.metricsServer.listen(metricsAddr.ip ?? '127.0.0.1', metricsAddr.port);
      this.log.info({ proxyPorts, controlPort, metricsPort }, 'gateway listening');
      return { proxyPorts, controlPort, metricsPort };
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Stops accepting, lets in-flight requests finish (up to shutdownTimeoutMs), cancels the
   * watch and closes upstream pools. Does not close the store.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    const deadline = this.opts.shutdownTimeoutMs ?? 10_000;
    await Promise.all([this.proxy.close(deadline), this.control.close(), this.metricsServer.close()]);
    this.unsubscribe?.();
    await this.sync.stop();
    this.tables.close();
    // every checker is stopped with its upstream above; this catches any the tables missed
    healthRegistryFor(this.pools).stopAll();
    await this.pools.close(deadline);
    if (this.ownsResolver) this.resolver.close();
  }
}

/** The node's secret cache as config.yaml sets it up (`apisix.lru.secret`). */
export function secretResolverFor(config: PorticoConfig, log: Logger): SecretResolver {
  const c = config.apisix.lru.secret;
  return new SecretResolver({ ttlSeconds: c.ttl, negTtlSeconds: c.neg_ttl, maxEntries: c.count, logger: log.child({ component: 'secrets' }) });
}

/** The node's ConfigSync on `store`, under `deployment.etcd.prefix` unless `prefix` says otherwise. */
export function configSyncFor(
  config: PorticoConfig,
  store: ConfigStore,
  log: Logger,
  opts: { prefix?: string; cipher?: FieldCipher; backoff?: GatewayOptions['syncBackoff'] } = {},
): ConfigSync {
  return new ConfigSync({
    store,
    prefix: opts.prefix ?? config.deployment.etcd.prefix,
    logger: log.child({ component: 'config-sync' }),
    cipher: opts.cipher,
    backoff: opts.backoff,
  });
}

export function createGateway(opts: GatewayOptions): Gateway {
  return new Gateway(opts);
}

function routeView(r: { id: string; conf: unknown; modRevision: number }) {
  return { id: r.id, value: r.conf, modifiedIndex: r.modRevision };
}
