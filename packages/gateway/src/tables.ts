import { componentLogger, type Logger } from '@portico/core';
import type { SecretResolver } from '@portico/secrets';
import type { ResourceChange, ResourceItem } from './config-sync';
import { ConsumerIndex, type ConsumerConf, type CredentialConf, type SecretLookup } from './consumer-index';
import { PluginChain, type Plugin } from './plugins';
import type { PoolManager } from './pools';
import { Router } from './router';
import { UpstreamRuntime, type TimeoutConf, type UpstreamConf } from './upstream';

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
  timeout?: TimeoutConf;
}

/** A route as the proxy uses it. Immutable once built; replaced on change. */
export interface RouteRuntime {
  readonly id: string;
  readonly conf: RouteConf;
  readonly modRevision: number;
  readonly chain: PluginChain;
  /** Inline `upstream`, built with the route. */
  readonly upstream?: UpstreamRuntime;
  /** `upstream_id`, looked up per request in the upstream table. */
  readonly upstreamId?: string;
}

export interface GatewayTablesOptions {
  pools: PoolManager;
  plugins: ReadonlyMap<string, Plugin<any>>;
  resolver?: SecretResolver;
  logger?: Logger;
}

/**
 * The data plane's derived tables, fed by ConfigSync batches: routes → Router, upstreams →
 * UpstreamRuntime (balancer + pools), consumers + credentials → ConsumerIndex, secrets →
 * resolver providers. Each change touches only what it names, and every batch is applied
 * synchronously, so a request sees the tables before or after a batch, never half of one.
 * A route or upstream that cannot be built (bad `vars`, plugin without implementation) is
 * skipped with a log line and the previous version stays in force, as for invalid items.
 *
 * Services, plugin_configs, global_rules, consumer_groups, ssls and plugin_metadata are held
 * by ConfigSync but not used yet (later issues hang them here).
 */
export class GatewayTables {
  readonly router = new Router<RouteRuntime>();
  readonly routes = new Map<string, RouteRuntime>();
  readonly upstreams = new Map<string, UpstreamRuntime>();
  readonly consumers: ConsumerIndex;
  private readonly pools: PoolManager;
  private readonly plugins: ReadonlyMap<string, Plugin<any>>;
  private readonly resolver?: SecretResolver;
  private readonly log: Logger;

  constructor(opts: GatewayTablesOptions) {
    this.pools = opts.pools;
    this.plugins = opts.plugins;
    this.resolver = opts.resolver;
    this.log = opts.logger ?? componentLogger('tables');
    this.consumers = new ConsumerIndex({ resolver: opts.resolver as SecretLookup | undefined, logger: this.log });
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
    const old = this.routes.get(id);
    let upstream: UpstreamRuntime | undefined;
    try {
      const chain = PluginChain.build(conf.plugins, this.plugins);
      if (conf.upstream) {
        if (old?.upstream && sameJson(old.upstream.conf, conf.upstream)) upstream = old.upstream;
        else upstream = this.buildUpstream(item.key, conf.upstream);
      }
      const runtime: RouteRuntime = {
        id,
        conf,
        modRevision: item.modRevision,
        chain,
        upstream,
        upstreamId: conf.upstream_id !== undefined ? String(conf.upstream_id) : undefined,
      };
      if (conf.status === 0) {
        this.router.delete(id);
      } else {
        this.router.set({
          id,
          paths: conf.uris ?? (conf.uri !== undefined ? [conf.uri] : []),
          methods: conf.methods,
          hosts: conf.hosts ?? (conf.host !== undefined ? [conf.host] : undefined),
          priority: conf.priority,
          remoteAddrs: conf.remote_addrs ?? (conf.remote_addr !== undefined ? [conf.remote_addr] : undefined),
          vars: conf.vars,
          payload: runtime,
        });
      }
      this.routes.set(id, runtime);
      if (old?.upstream && old.upstream !== upstream) old.upstream.dispose();
    } catch (err) {
      if (upstream && upstream !== old?.upstream) upstream.dispose();
      this.log.error({ key: item.key, reason: (err as Error).message, keptPrevious: old !== undefined },
        `skipping route ${item.key}: ${(err as Error).message}`);
    }
  }

  private deleteRoute(id: string): void {
    const old = this.routes.get(id);
    this.router.delete(id);
    this.routes.delete(id);
    old?.upstream?.dispose();
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
    if (conf.type && conf.type !== 'roundrobin') {
      this.log.warn({ key, type: conf.type }, `upstream type ${conf.type} is not supported yet; balancing with roundrobin`);
    }
    return new UpstreamRuntime(conf, this.pools);
  }

  private deleteUpstream(id: string): void {
    this.upstreams.get(id)?.dispose();
    this.upstreams.delete(id);
  }

  /** Releases every pool reference and the resolver subscription. */
  close(): void {
    for (const r of this.routes.values()) r.upstream?.dispose();
    for (const u of this.upstreams.values()) u.dispose();
    this.routes.clear();
    this.upstreams.clear();
    this.consumers.close();
  }
}

/** Compares two stored JSON values ignoring timestamps (a re-PUT of the same upstream keeps its balancer). */
function sameJson(a: object, b: object): boolean {
  return JSON.stringify(a, dropTimes) === JSON.stringify(b, dropTimes);
}

function dropTimes(key: string, value: unknown): unknown {
  return key === 'create_time' || key === 'update_time' ? undefined : value;
}
