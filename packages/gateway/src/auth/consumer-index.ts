import { componentLogger, PLUGIN_DEFINITIONS, type Logger } from '@portico/core';
import { isSecretRef, type SecretCache } from '@portico/secrets';
import { KeyTable, type KeyOwner } from './key-table';
import type { PluginSecrets } from '../config/plugin-secrets';
import { PluginChain } from '../plugins/pipeline';
import type { AnyPlugin } from '../plugins/types';

export type { KeyOwner } from './key-table';

/** What the consumer index needs from the secret cache. */
export type SecretLookup = Pick<SecretCache, 'peek' | 'resolve' | 'refreshIfStale' | 'onChange'>
  & Partial<Pick<SecretCache, 'clock'>>;

export interface ConsumerConf {
  username: string;
  plugins?: Record<string, Record<string, unknown>>;
  group_id?: string | number;
  labels?: Record<string, string>;
  [k: string]: unknown;
}

export interface CredentialConf {
  id?: string | number;
  plugins?: Record<string, Record<string, unknown>>;
  [k: string]: unknown;
}

/** `/consumer_groups/<id>`. */
export interface ConsumerGroupConf {
  plugins?: Record<string, unknown>;
  [k: string]: unknown;
}

/**
 * Auth plugin → the consumer-conf field that identifies its owner. key-auth looks up the key
 * itself; basic-auth the username (the password is checked after); jwt-auth the `key` claim.
 */
export const AUTH_IDENTITY_FIELDS: Readonly<Record<string, string>> = {
  'key-auth': 'key',
  'basic-auth': 'username',
  'jwt-auth': 'key',
};

export interface ConsumerIndexOptions {
  /** The auth plugin `lookup(key)` serves when none is named (default `key-auth`). */
  plugin?: string;
  /** Auth plugin → identity field (default AUTH_IDENTITY_FIELDS). */
  identityFields?: Readonly<Record<string, string>>;
  resolver?: SecretLookup;
  logger?: Logger;
  /**
   * At most this often (ms) a lookup checks referenced identities for expiry and starts
   * background refreshes (default 1000). Refreshes are driven by TTL, never by lookup misses.
   */
  expiryCheckMs?: number;
  /** default: the resolver's clock, else Date.now */
  now?: () => number;
  /** Builds consumer/group plugin chains (SPEC §6 overrides); without it they are ignored. */
  registry?: ReadonlyMap<string, AnyPlugin>;
  /**
   * Resolves `$secret://` / `$env://` strings in consumer and consumer_group plugin confs
   * through the node's secret cache, as for route plugins (SPEC §9). Without it such a conf
   * cannot be built and its consumers' requests are refused.
   */
  pluginSecrets?: PluginSecrets;
}

/** A consumer's compiled group+consumer plugins, valid while both confs are the same objects. */
interface ConsumerChain {
  consumer: ConsumerConf;
  group?: ConsumerGroupConf;
  /** the consumer's own plugins, compiled once per consumer conf */
  own: PluginChain;
  chain: PluginChain;
}

/**
 * Consumers, credentials and consumer groups, with one KeyTable per auth plugin (SPEC §8, §9).
 * Updates are synchronous, so a request sees the tables before or after a configuration batch.
 * A credential is active only while its consumer exists.
 */
export class ConsumerIndex {
  private readonly plugin: string;
  private readonly resolver?: SecretLookup;
  private readonly log: Logger;
  private readonly now?: () => number;
  private readonly registry?: ReadonlyMap<string, AnyPlugin>;
  private readonly pluginSecrets?: PluginSecrets;
  private readonly tables = new Map<string, { field: string; table: KeyTable }>();
  /** The table `lookup(key)` serves without a plugin name: key-auth's hot path skips a Map get. */
  private readonly defaultTable?: KeyTable;

  private readonly consumers = new Map<string, ConsumerConf>();
  /** username → credential id → conf */
  private readonly credentials = new Map<string, Map<string, CredentialConf>>();
  private readonly groups = new Map<string, ConsumerGroupConf>();
  /** group id → its compiled plugins, shared by its consumers (so is the state of its limits) */
  private readonly groupChains = new Map<string, PluginChain>();
  /** username → compiled consumer plugins; checked against the current confs on use */
  private readonly chains = new Map<string, ConsumerChain>();
  private readonly unsubscribe?: () => void;

  constructor(opts: ConsumerIndexOptions = {}) {
    this.plugin = opts.plugin ?? 'key-auth';
    this.resolver = opts.resolver;
    this.log = opts.logger ?? componentLogger('consumers');
    this.now = opts.now;
    this.registry = opts.registry;
    this.pluginSecrets = opts.pluginSecrets;
    const clock = () => this.clock();
    for (const [plugin, field] of Object.entries(opts.identityFields ?? AUTH_IDENTITY_FIELDS)) {
      this.tables.set(plugin, {
        field,
        table: new KeyTable({ plugin, resolver: opts.resolver, log: this.log, expiryCheckMs: opts.expiryCheckMs ?? 1000, clock }),
      });
    }
    this.defaultTable = this.tables.get(this.plugin)?.table;
    this.unsubscribe = this.resolver?.onChange((ref) => {
      for (const { table } of this.tables.values()) table.onSecretChange(ref);
    });
  }

  // ---- configuration -----------------------------------------------------------------

  getConsumer(username: string): ConsumerConf | undefined {
    return this.consumers.get(username);
  }

  get consumerCount(): number {
    return this.consumers.size;
  }

  setConsumer(username: string, conf: ConsumerConf | undefined): void {
    if (conf) this.consumers.set(username, conf);
    else this.consumers.delete(username);
    this.chains.delete(username);
    this.setOwner(`c:${username}`, username, undefined, conf, conf?.plugins);
    // Credential owner entries carry the consumer object: refresh them too.
    for (const [id, cred] of this.credentials.get(username) ?? []) this.refreshCredential(username, id, cred);
  }

  setCredential(username: string, id: string, conf: CredentialConf | undefined): void {
    let byId = this.credentials.get(username);
    if (conf) {
      if (!byId) this.credentials.set(username, (byId = new Map()));
      byId.set(id, conf);
    } else if (byId) {
      byId.delete(id);
      if (byId.size === 0) this.credentials.delete(username);
    }
    this.refreshCredential(username, id, conf);
  }

  /** `/consumer_groups/<id>`; consumers naming it pick up the change on their next request. */
  setGroup(id: string, conf: ConsumerGroupConf | undefined): void {
    if (conf) this.groups.set(id, conf);
    else this.groups.delete(id);
    this.groupChains.delete(id);
  }

  private refreshCredential(username: string, id: string, conf: CredentialConf | undefined): void {
    const consumer = this.consumers.get(username);
    this.setOwner(`k:${username}/${id}`, username, id, conf && consumer, conf?.plugins);
  }

  private setOwner(ownerId: string, username: string, credentialId: string | undefined, consumer: ConsumerConf | undefined,
    plugins: Record<string, Record<string, unknown>> | undefined): void {
    for (const [plugin, { field, table }] of this.tables) {
      const conf = plugins?.[plugin];
      const key = conf?.[field];
      table.set(ownerId, consumer && conf && typeof key === 'string' && key.length > 0
        ? { username, credentialId, consumer, conf, key }
        : undefined);
    }
  }

  // ---- lookup ------------------------------------------------------------------------

  /**
   * The owner of an identity of `plugin` (default key-auth's key), synchronously when the
   * answer is known; a Promise only when it is unknown and some referenced identities have
   * never been resolved.
   */
  lookup(key: string, plugin: string = this.plugin): KeyOwner | undefined | Promise<KeyOwner | undefined> {
    const table = plugin === this.plugin ? this.defaultTable : this.tables.get(plugin)?.table;
    return table?.lookup(key);
  }

  /**
   * A credential field that may be a secret reference (basic-auth password, jwt secret):
   * literals as they are; a cached reference at once (an expired one is refreshed in the
   * background); an uncached one awaited. undefined when it cannot be resolved (fail closed).
   */
  resolveSecretField(value: unknown): string | undefined | Promise<string | undefined> {
    if (typeof value !== 'string') return undefined;
    if (!isSecretRef(value)) return value;
    if (!this.resolver) return undefined;
    const p = this.resolver.peek(value);
    if (p.value !== undefined) {
      if (p.state === 'stale') this.resolver.refreshIfStale(value);
      return p.value;
    }
    if (p.state === 'failed') return undefined;
    return this.resolver.resolve(value);
  }

  /**
   * The consumer's group plugins overridden by its own (SPEC §6), compiled once per change of
   * either; auth plugins are left out (they already ran). EMPTY when there is nothing to merge.
   * A set that cannot be built, or a `group_id` naming no consumer group, fails closed: the
   * request is refused (503) rather than run without it.
   */
  chainFor(owner: KeyOwner): PluginChain {
    const consumer = owner.consumer;
    const groupId = consumer.group_id !== undefined ? String(consumer.group_id) : undefined;
    const group = groupId !== undefined ? this.groups.get(groupId) : undefined;
    const cached = this.chains.get(consumer.username);
    if (cached && cached.consumer === consumer && cached.group === group) return cached.chain;
    const own = cached && cached.consumer === consumer ? cached.own : this.buildChain(consumer.plugins, { consumer: consumer.username });
    if (groupId !== undefined && !group) {
      // APISIX (`http_access_phase`): a consumer whose group does not exist is refused with
      // 503, not run without the group's plugins (which may be its limits). Cached until the
      // consumer or the group changes, so this is logged once per change.
      const reason = `failed to fetch consumer group config by id: ${groupId}`;
      this.log.error({ consumer: consumer.username, group_id: groupId }, reason);
      const chain = PluginChain.refusing({ status: 503, body: { error_msg: reason } });
      this.chains.set(consumer.username, { consumer, group, own, chain });
      return chain;
    }
    let groupChain = PluginChain.EMPTY;
    if (groupId !== undefined && group) {
      groupChain = this.groupChains.get(groupId) ?? this.buildChain(group.plugins, { group_id: groupId });
      this.groupChains.set(groupId, groupChain);
    }
    const chain = PluginChain.overlay(groupChain, own);
    this.chains.set(consumer.username, { consumer, group, own, chain });
    return chain;
  }

  private buildChain(set: Record<string, unknown> | undefined, owner: Record<string, string>): PluginChain {
    if (!this.registry) return PluginChain.EMPTY;
    const plugins: Record<string, unknown> = {};
    for (const [name, conf] of Object.entries(set ?? {})) {
      if (PLUGIN_DEFINITIONS[name]?.type !== 'auth') plugins[name] = conf;
    }
    if (Object.keys(plugins).length === 0) return PluginChain.EMPTY;
    try {
      // A conf with references gets a resolve step in its rewrite phase, which runs right after
      // authentication (PluginChain.withConsumer): the values are fetched lazily, once per node
      // (single-flight), and an unresolvable one answers 503 naming the plugin.
      const scope = Object.entries(owner).map(([k, v]) => `${k}:${v}`).join(',');
      return PluginChain.build(plugins, this.registry, this.pluginSecrets, scope);
    } catch (err) {
      this.log.error({ ...owner, reason: (err as Error).message }, 'consumer plugins cannot be built; requests of their consumers are refused');
      return PluginChain.refusing({ status: 503, body: { error_msg: 'consumer plugins unavailable' } });
    }
  }

  /** The injected clock, else the resolver's (its deadlines are on it), else Date.now. */
  private clock(): number {
    if (this.now) return this.now();
    return this.resolver?.clock ? this.resolver.clock() : Date.now();
  }

  close(): void {
    this.unsubscribe?.();
  }
}
