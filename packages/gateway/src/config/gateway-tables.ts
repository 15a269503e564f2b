import { componentLogger, type Logger } from '@portico/core';
import type { SecretCache } from '@portico/secrets';
import type { ResourceChange, ResourceItem } from './config-sync';
import { ConsumerIndex, type ConsumerConf, type ConsumerGroupConf, type CredentialConf, type SecretLookup } from '../auth/consumer-index';
import { PluginSecrets } from './plugin-secrets';
import { PluginChain, type AnyPlugin } from '../plugins';
import type { PoolManager } from '../upstream/pools';
import { Router } from '../routing/router';
import { InlineUpstreams, SharedChains } from './shared-runtimes';
import { UpstreamRuntime, type TimeoutConf, type UpstreamConf } from '../upstream/upstream';

/** The route fields the data plane uses (SPEC §4), as stored. */
export interface RouteConf {
  id?: string | number;
  name?: string;
  uri?: string;
  uris?: string[];
  methods?: string[];
  host?: string;
  hosts?: string[];
  remote_addr?: string;
  remote_addrs?: string[];
  vars?: unknown[];
  priority?: number;
  status?: 0 | 1;
  plugins?: Record<string, unknown>;
  upstream?: UpstreamConf;
  upstream_id?: string | number;
  service_id?: string | number;
  plugin_config_id?: string | number;
  timeout?: TimeoutConf;
}

/** `/services/<id>` fields the merge uses (SPEC §4, §6). */
export interface ServiceConf {
  plugins?: Record<string, unknown>;
  upstream?: UpstreamConf;
  upstream_id?: string | number;
  hosts?: string[];
  timeout?: TimeoutConf;
}

/** `/plugin_configs/<id>` and `/global_rules/<id>`. */
export interface PluginSetConf {
  plugins?: Record<string, unknown>;
}

/** A service as the tables hold it: its inline upstream is built once and shared by its routes. */
interface ServiceRuntime {
  conf: ServiceConf;
  upstream?: UpstreamRuntime;
}

/** A route as the proxy uses it: the route merged with its service and plugin_config. Immutable; replaced on change. */
export interface RouteRuntime {
  readonly id: string;
  readonly conf: RouteConf;
  readonly modRevision: number;
  /** Merged plugins: service, then plugin_config, then the route's own (global rules are added per request). */
  readonly chain: PluginChain;
  /** Effective inline upstream: the route's own, else its service's. */
  readonly upstream?: UpstreamRuntime;
  /** Effective `upstream_id`, looked up per request in the upstream table (so an upstream change rebuilds no route). */
  readonly upstreamId?: string;
  /** Effective timeout: the route's, else its service's. */
  readonly timeout?: TimeoutConf;
  /** Effective `enable_websocket`: the route's, else its service's. */
  readonly enableWebsocket?: boolean;
  /**
   * Set when the route names a service or plugin_config that does not exist (yet): the proxy
   * answers this instead of running the route half-configured. The route is rebuilt when the
   * missing item arrives (reverse index).
   */
  readonly unavailable?: { status: number; reason: string };
}

/** What a route was built from, kept to rebuild it when its service or plugin_config changes. */
interface RouteSource {
  item: ResourceItem;
  /** The route owns this upstream (inline `upstream`), disposed with the route. */
  ownUpstream?: UpstreamRuntime;
}

export interface GatewayTablesOptions {
  pools: PoolManager;
  plugins: ReadonlyMap<string, AnyPlugin>;
  resolver?: SecretCache;
  logger?: Logger;
}

/**
 * The data plane's derived tables, fed by ConfigSync batches: routes (merged with services and
 * plugin_configs, SPEC §6) → Router, upstreams → UpstreamRuntime (balancer + pools), global
 * rules → one global PluginChain, consumers + credentials → ConsumerIndex, secrets → resolver
 * providers. Each change touches only what it names: a service or plugin_config change
 * rebuilds only the routes that reference it (reverse index), an upstream change rebuilds no
 * route (routes hold the id). Every batch is applied synchronously, so a request sees the
 * tables before or after a batch, never half of one. A route that cannot be built (bad
 * `vars`, plugin without implementation) is skipped with a log line and the previous version
 * stays in force, as for invalid items.
 */
export class GatewayTables {
  readonly router = new Router<RouteRuntime>();
  readonly routes = new Map<string, RouteRuntime>();
  readonly upstreams = new Map<string, UpstreamRuntime>();
  readonly consumers: ConsumerIndex;
  /** All global rules' plugins; replaced (never mutated) when a global rule changes. */
  globalChain: PluginChain = PluginChain.EMPTY;
  private readonly services = new Map<string, ServiceRuntime>();
  private readonly pluginConfigs = new Map<string, PluginSetConf>();
  private readonly globalRules = new Map<string, PluginChain>();
  private readonly sources = new Map<string, RouteSource>();
  /** service id → ids of routes naming it (including routes waiting for it to exist). */
  private readonly routesByService = new Map<string, Set<string>>();
  private readonly routesByPluginConfig = new Map<string, Set<string>>();
  private readonly pools: PoolManager;
  private readonly plugins: ReadonlyMap<string, AnyPlugin>;
  private readonly resolver?: SecretCache;
  /** Resolves `$secret://` / `$env://` strings in route, service, global-rule, consumer and consumer_group plugin confs. */
  private readonly pluginSecrets?: PluginSecrets;
  private readonly log: Logger;
  /** Identical plugin sets and inline upstreams of many routes share one compiled runtime. */
  private readonly chains: SharedChains;
  private readonly inlineUpstreams = new InlineUpstreams((key, conf) => this.buildUpstream(key, conf));

  constructor(opts: GatewayTablesOptions) {
    this.pools = opts.pools;
    this.plugins = opts.plugins;
    this.resolver = opts.resolver;
    this.log = opts.logger ?? componentLogger('tables');
    this.pluginSecrets = opts.resolver ? new PluginSecrets(opts.resolver, this.log) : undefined;
    this.chains = new SharedChains(this.plugins, this.pluginSecrets);
    // The registry lets consumer/consumer_group plugins be compiled (SPEC §6 overrides).
    // Consumer and consumer_group plugin confs resolve their references through the same
    // per-node cache as route plugins.
    this.consumers = new ConsumerIndex({ resolver: opts.resolver as SecretLookup | undefined, logger: this.log, registry: opts.plugins, pluginSecrets: this.pluginSecrets });
  }

  /** ConfigSync listener. */
  readonly apply = (changes: readonly ResourceChange[]): void => {
    // One router version per store batch: a first load of 100k routes builds the tree once.
    this.router.batch(() => this.applyAll(changes));
  };

  private applyAll(changes: readonly ResourceChange[]): void {
    for (const c of changes) {
      const item = c.type === 'put' ? c.item : undefined;
      const ref = c.type === 'put' ? c.item.ref : c.ref;
      switch (ref.resource) {
        case 'routes':
          if (item) this.putRoute(item);
          else this.deleteRoute(ref.id);
          break;
        case 'services':
          this.setService(ref.id, item?.value as ServiceConf | undefined, c.type === 'put' ? c.item.key : c.key);
          break;
        case 'plugin_configs':
          if (item) this.pluginConfigs.set(ref.id, item.value as PluginSetConf);
          else this.pluginConfigs.delete(ref.id);
          this.rebuildRoutes(this.routesByPluginConfig.get(ref.id));
          break;
        case 'global_rules':
          this.setGlobalRule(ref.id, item);
          break;
        case 'upstreams':
          if (item) this.putUpstream(item);
          else this.deleteUpstream(ref.id);
          break;
        case 'consumers':
          this.consumers.setConsumer(ref.id, item?.value as ConsumerConf | undefined);
          break;
        case 'credentials':
          this.consumers.setCredential(ref.consumer!, ref.id, item?.value as CredentialConf | undefined);
          break;
        case 'consumer_groups':
          // Held by the consumer index: a consumer's `group_id` plugins apply after authentication.
          this.consumers.setGroup(ref.id, item?.value as ConsumerGroupConf | undefined);
          break;
        case 'secrets':
          // Drops that provider's cached values; the resolver tells the consumer index which
          // references changed.
          this.resolver?.setProvider(ref.manager!, ref.id, item?.value);
          break;
        default:
          break;
      }
    }
  }

  private putRoute(item: ResourceItem): void {
    const id = item.ref.id;
    const conf = item.value as RouteConf;
    const oldSource = this.sources.get(id);
    let ownUpstream: UpstreamRuntime | undefined;
    try {
      if (conf.upstream) {
        const prev = oldSource?.ownUpstream;
        ownUpstream = prev && sameJson(prev.conf, conf.upstream) ? prev : this.inlineUpstreams.acquire(item.key, conf.upstream);
      }
      const source: RouteSource = { item, ownUpstream };
      this.install(id, this.buildRoute(id, source));
      this.sources.set(id, source);
      this.indexRefs(id, oldSource?.item.value as RouteConf | undefined, conf);
      if (oldSource?.ownUpstream && oldSource.ownUpstream !== ownUpstream) this.inlineUpstreams.release(oldSource.ownUpstream);
    } catch (err) {
      if (ownUpstream && ownUpstream !== oldSource?.ownUpstream) this.inlineUpstreams.release(ownUpstream);
      this.log.error({ key: item.key, reason: (err as Error).message, keptPrevious: oldSource !== undefined },
        `skipping route ${item.key}: ${(err as Error).message}`);
    }
  }

  /** Merges a route with its service and plugin_config (SPEC §6). Throws when a plugin cannot be built. */
  private buildRoute(id: string, source: RouteSource): RouteRuntime {
    const { item, ownUpstream } = source;
    const conf = item.value as RouteConf;
    const serviceId = conf.service_id !== undefined ? String(conf.service_id) : undefined;
    const pcId = conf.plugin_config_id !== undefined ? String(conf.plugin_config_id) : undefined;
    const service = serviceId !== undefined ? this.services.get(serviceId) : undefined;
    const pc = pcId !== undefined ? this.pluginConfigs.get(pcId) : undefined;
    // APISIX (`router.filter`/`http_access_phase`): a missing service is a 404, a missing plugin_config a 503.
    const unavailable = serviceId !== undefined && !service ? { status: 404, reason: `failed to fetch service configuration by id: ${serviceId}` }
      : pcId !== undefined && !pc ? { status: 503, reason: `failed to fetch plugin config by id: ${pcId}` }
      : undefined;
    // Later sources override earlier ones by plugin name: the plugin_config only adds what the
    // route lacks, and the route (with its plugin_config) overrides the service.
    const plugins = service?.conf.plugins || pc?.plugins
      ? { ...service?.conf.plugins, ...pc?.plugins, ...conf.plugins }
      : conf.plugins;
    let upstream: UpstreamRuntime | undefined;
    let upstreamId: string | undefined;
    if (ownUpstream) upstream = ownUpstream;
    else if (conf.upstream_id !== undefined) upstreamId = String(conf.upstream_id);
    else if (service?.upstream) upstream = service.upstream;
    else if (service?.conf.upstream_id !== undefined) upstreamId = String(service.conf.upstream_id);
    return {
      id,
      conf,
      modRevision: item.modRevision,
      chain: unavailable ? PluginChain.EMPTY : this.chains.chainFor(plugins, `route:${id}`),
      upstream,
      upstreamId,
      timeout: conf.timeout ?? service?.conf.timeout,
      enableWebsocket: (conf as { enable_websocket?: boolean }).enable_websocket ?? (service?.conf as { enable_websocket?: boolean } | undefined)?.enable_websocket,
      unavailable,
    };
  }

  /** Publishes a built route in the router (or withdraws it when disabled). */
  private install(id: string, runtime: RouteRuntime): void {
    const conf = runtime.conf;
    if (conf.status === 0) {
      this.router.delete(id);
    } else {
      const service = conf.service_id !== undefined ? this.services.get(String(conf.service_id)) : undefined;
      const hosts = conf.hosts ?? (conf.host !== undefined ? [conf.host] : service?.conf.hosts);
      this.router.set({
        id,
        paths: conf.uris ?? (conf.uri !== undefined ? [conf.uri] : []),
        methods: conf.methods,
        hosts,
        priority: conf.priority,
        remoteAddrs: conf.remote_addrs ?? (conf.remote_addr !== undefined ? [conf.remote_addr] : undefined),
        vars: conf.vars,
        payload: runtime,
      });
    }
    this.routes.set(id, runtime);
  }

  /** Rebuilds the given routes after a service or plugin_config change; a route that fails keeps its previous version. */
  private rebuildRoutes(ids: ReadonlySet<string> | undefined): void {
    if (!ids) return;
    for (const id of ids) {
      const source = this.sources.get(id);
      if (!source) continue;
      try {
        this.install(id, this.buildRoute(id, source));
      } catch (err) {
        this.log.error({ key: source.item.key, reason: (err as Error).message },
          `route ${source.item.key} cannot be rebuilt, keeping its previous version: ${(err as Error).message}`);
      }
    }
  }

  private indexRefs(id: string, before: RouteConf | undefined, after: RouteConf | undefined): void {
    relink(this.routesByService, id, before?.service_id, after?.service_id);
    relink(this.routesByPluginConfig, id, before?.plugin_config_id, after?.plugin_config_id);
  }

  private deleteRoute(id: string): void {
    const source = this.sources.get(id);
    this.router.delete(id);
    this.routes.delete(id);
    this.sources.delete(id);
    this.indexRefs(id, source?.item.value as RouteConf | undefined, undefined);
    if (source?.ownUpstream) this.inlineUpstreams.release(source.ownUpstream);
  }

  private setService(id: string, conf: ServiceConf | undefined, key: string): void {
    const old = this.services.get(id);
    let upstream: UpstreamRuntime | undefined;
    if (conf?.upstream) {
      upstream = old?.upstream && sameJson(old.upstream.conf, conf.upstream) ? old.upstream : this.buildUpstream(key, conf.upstream);
    }
    if (conf) this.services.set(id, { conf, upstream });
    else this.services.delete(id);
    this.rebuildRoutes(this.routesByService.get(id));
    if (old?.upstream && old.upstream !== upstream) old.upstream.dispose();
  }

  private setGlobalRule(id: string, item: ResourceItem | undefined): void {
    if (!item) {
      this.globalRules.delete(id);
    } else {
      try {
        this.globalRules.set(id, PluginChain.build((item.value as PluginSetConf).plugins, this.plugins, this.pluginSecrets, `global_rule:${id}`));
      } catch (err) {
        this.log.error({ key: item.key, reason: (err as Error).message }, `skipping global rule ${item.key}: ${(err as Error).message}`);
        return;
      }
    }
    // Ordered by id so the merged chain does not depend on arrival order.
    this.globalChain = PluginChain.merge([...this.globalRules.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, c]) => c));
  }

  private putUpstream(item: ResourceItem): void {
    const id = item.ref.id;
    const conf = item.value as UpstreamConf;
    const old = this.upstreams.get(id);
    if (old && sameJson(old.conf, conf)) return;
    this.upstreams.set(id, this.buildUpstream(item.key, conf));
    old?.dispose();
  }

  private buildUpstream(key: string, conf: UpstreamConf): UpstreamRuntime {
    return new UpstreamRuntime(conf, this.pools, (msg) => this.log.warn({ key }, msg), key);
  }

  private deleteUpstream(id: string): void {
    this.upstreams.get(id)?.dispose();
    this.upstreams.delete(id);
  }

  /** Releases every pool reference and the resolver subscription. */
  close(): void {
    for (const s of this.sources.values()) if (s.ownUpstream) this.inlineUpstreams.release(s.ownUpstream);
    for (const s of this.services.values()) s.upstream?.dispose();
    for (const u of this.upstreams.values()) u.dispose();
    this.routes.clear();
    this.sources.clear();
    this.services.clear();
    this.upstreams.clear();
    this.consumers.close();
    this.pluginSecrets?.close();
  }
}

/** Moves `id` from the set under `before` to the set under `after` in a reverse index. */
function relink(index: Map<string, Set<string>>, id: string, before: unknown, after: unknown): void {
  const b = before !== undefined ? String(before) : undefined;
  const a = after !== undefined ? String(after) : undefined;
  if (b === a) return;
  if (b !== undefined) {
    const set = index.get(b);
    set?.delete(id);
    if (set?.size === 0) index.delete(b);
  }
  if (a !== undefined) {
    let set = index.get(a);
    if (!set) index.set(a, (set = new Set()));
    set.add(id);
  }
}

/** Compares two stored JSON values ignoring timestamps (a re-PUT of the same upstream keeps its balancer). */
function sameJson(a: object, b: object): boolean {
  return JSON.stringify(a, dropTimes) === JSON.stringify(b, dropTimes);
}

function dropTimes(key: string, value: unknown): unknown {
  return key === 'create_time' || key === 'update_time' ? undefined : value;
}
