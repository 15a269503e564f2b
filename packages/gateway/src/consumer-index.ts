import { componentLogger, type Logger } from '@portico/core';
import { isSecretRef, type SecretResolver } from '@portico/secrets';

/** What the consumer index needs from the secret cache. */
export type SecretLookup = Pick<SecretResolver, 'peek' | 'resolve' | 'refreshIfStale' | 'onChange'>
  & Partial<Pick<SecretResolver, 'clock'>>;

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

/** Who a key belongs to. */
export interface KeyOwner {
  readonly username: string;
  /** Set when the key came from `/consumers/<u>/credentials/<id>`. */
  readonly credentialId?: string;
  readonly consumer: ConsumerConf;
}

interface OwnerEntry extends KeyOwner {
  /** `c:<u>` or `k:<u>/<credential id>` */
  readonly ownerId: string;
  /** The configured key: a literal, or a reference (never itself a valid key). */
  readonly key: string;
  readonly isRef: boolean;
}

export interface ConsumerIndexOptions {
  /** Auth plugin whose `key` this index serves (default `key-auth`). */
  plugin?: string;
  resolver?: SecretLookup;
  logger?: Logger;
  /**
   * At most this often (ms) a lookup checks referenced keys for expiry and starts background
   * refreshes (default 1000). Refreshes are driven by TTL, never by lookup misses.
   */
  expiryCheckMs?: number;
  /** default: the resolver's clock, else Date.now */
  now?: () => number;
}

/**
 * Consumers and credentials, and the key → owner table key-auth looks up (SPEC §8, §9).
 *
 * Literal keys live in a Map updated incrementally. Keys that are secret references
 * (`$secret://...`, `$env://...`) are resolved lazily through the SecretResolver:
 *
 *  - nothing is fetched until a lookup misses while some reference has never been resolved
 *    ("cold"); that lookup awaits resolution of every cold reference (the resolver shares one
 *    fetch among concurrent callers), then looks again;
 *  - once resolved, a miss costs nothing: a flood of wrong keys makes no provider call;
 *  - at most every `expiryCheckMs`, a lookup peeks the references and asks the resolver to
 *    refresh expired ones in the background (stale-while-revalidate);
 *  - when the resolver reports a changed reference (rotated, gone, provider reconfigured), the
 *    resolved-key table is rebuilt: the new key works and the old one stops;
 *  - a reference that cannot be resolved disables that consumer or credential only (fail
 *    closed): the reference string itself never matches;
 *  - rotation grace: when the resolver reports a previous value still inside its provider's
 *    `rotation_grace`, that value keeps authenticating until the deadline (resolver clock),
 *    then stops, checked on every lookup that reaches it.
 *
 * Updates are synchronous, so a request sees the table before or after a configuration batch.
 * Key values are never logged; references and owners are.
 */
export class ConsumerIndex {
  private readonly plugin: string;
  private readonly resolver?: SecretLookup;
  private readonly log: Logger;
  private readonly expiryCheckMs: number;
  private readonly now?: () => number;

  private readonly consumers = new Map<string, ConsumerConf>();
  /** username → credential id → conf */
  private readonly credentials = new Map<string, Map<string, CredentialConf>>();

  private readonly owners = new Map<string, OwnerEntry>();
  /** literal key → owners (almost always one; the admin API rejects duplicates) */
  private readonly plainKeys = new Map<string, OwnerEntry[]>();
  /** reference → owners using it */
  private readonly refOwners = new Map<string, Set<OwnerEntry>>();
  /** reference → its current value, for references that resolved */
  private readonly refValues = new Map<string, string>();
  /** reference → the value before a rotation, accepted until `until` (resolver clock) */
  private readonly refPrevious = new Map<string, { value: string; until: number }>();
  /** previous value → owner and deadline; rebuilt with resolvedKeys */
  private graceKeys = new Map<string, { owner: OwnerEntry; until: number }>();
  /** references with no known outcome yet: a miss waits for them */
  private readonly coldRefs = new Set<string>();
  /** resolved key → owner; rebuilt from refOwners × refValues when either changes */
  private resolvedKeys = new Map<string, OwnerEntry>();
  private resolvedDirty = false;
  private coldInflight?: Promise<void>;
  private nextExpiryCheck = 0;
  private readonly unsubscribe?: () => void;

  constructor(opts: ConsumerIndexOptions = {}) {
    this.plugin = opts.plugin ?? 'key-auth';
    this.resolver = opts.resolver;
    this.log = opts.logger ?? componentLogger('consumers');
    this.expiryCheckMs = opts.expiryCheckMs ?? 1000;
    this.now = opts.now;
    this.unsubscribe = this.resolver?.onChange((ref) => this.onSecretChange(ref));
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
    this.setOwner(`c:${username}`, conf ? { username, consumer: conf, key: this.keyOf(conf.plugins) } : undefined);
    // A credential is active only while its consumer exists; its owner entry carries the
    // consumer object, so refresh those too.
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

  private refreshCredential(username: string, id: string, conf: CredentialConf | undefined): void {
    const consumer = this.consumers.get(username);
    this.setOwner(`k:${username}/${id}`, conf && consumer
      ? { username, credentialId: id, consumer, key: this.keyOf(conf.plugins) }
      : undefined);
  }

  private keyOf(plugins: ConsumerConf['plugins']): string | undefined {
    const key = plugins?.[this.plugin]?.key;
    return typeof key === 'string' && key.length > 0 ? key : undefined;
  }

  private setOwner(ownerId: string, next: { username: string; credentialId?: string; consumer: ConsumerConf; key?: string } | undefined): void {
    const old = this.owners.get(ownerId);
    if (old) {
      this.owners.delete(ownerId);
      if (old.isRef) {
        const set = this.refOwners.get(old.key);
        set?.delete(old);
        if (set && set.size === 0) {
          this.refOwners.delete(old.key);
          this.refValues.delete(old.key);
          this.refPrevious.delete(old.key);
          this.coldRefs.delete(old.key);
        }
        this.resolvedDirty = true;
      } else {
        const list = this.plainKeys.get(old.key)?.filter((o) => o !== old);
        if (list && list.length > 0) this.plainKeys.set(old.key, list);
        else this.plainKeys.delete(old.key);
      }
    }
    if (!next || next.key === undefined) return;
    const entry: OwnerEntry = {
      ownerId,
      username: next.username,
      credentialId: next.credentialId,
      consumer: next.consumer,
      key: next.key,
      isRef: isSecretRef(next.key),
    };
    this.owners.set(ownerId, entry);
    if (!entry.isRef) {
      const list = this.plainKeys.get(entry.key);
      this.plainKeys.set(entry.key, list ? [...list, entry] : [entry]);
      return;
    }
    let set = this.refOwners.get(entry.key);
    if (!set) {
      this.refOwners.set(entry.key, (set = new Set()));
      this.learnRef(entry.key);
    }
    set.add(entry);
    this.resolvedDirty = true;
  }

  /** Records what the resolver already knows about a reference, without fetching. */
  private learnRef(ref: string): void {
    if (!this.resolver) return; // no resolver: references never resolve
    const p = this.resolver.peek(ref);
    if (p.previous !== undefined && p.previousUntil !== undefined) this.refPrevious.set(ref, { value: p.previous, until: p.previousUntil });
    else this.refPrevious.delete(ref);
    if (p.value !== undefined) {
      this.refValues.set(ref, p.value);
      this.coldRefs.delete(ref);
    } else {
      this.refValues.delete(ref);
      if (p.state === 'missing') this.coldRefs.add(ref);
      else this.coldRefs.delete(ref);
    }
  }

  private onSecretChange(ref: string): void {
    if (!this.refOwners.has(ref)) return;
    this.learnRef(ref);
    this.resolvedDirty = true;
    this.log.info({ ref }, 'secret reference changed; key table rebuilt');
  }

  // ---- lookup ------------------------------------------------------------------------

  /**
   * The owner of `key`, synchronously when the answer is known; a Promise only when the key
   * is unknown and some referenced keys have never been resolved.
   */
  lookup(key: string): KeyOwner | undefined | Promise<KeyOwner | undefined> {
    if (this.refOwners.size > 0) this.checkExpiry();
    const hit = this.find(key);
    if (hit || this.coldRefs.size === 0) return hit;
    return this.lookupAfterCold(key);
  }

  private async lookupAfterCold(key: string): Promise<KeyOwner | undefined> {
    // Twice at most: a reference that turned cold while the first wait ran gets one more.
    for (let round = 0; round < 2; round++) {
      await this.resolveCold();
      const hit = this.find(key);
      if (hit || this.coldRefs.size === 0) return hit;
    }
    return undefined;
  }

  private find(key: string): OwnerEntry | undefined {
    const plain = this.plainKeys.get(key);
    if (plain) return plain[0];
    if (this.resolvedDirty) this.rebuildResolved();
    const hit = this.resolvedKeys.get(key);
    if (hit || this.graceKeys.size === 0) return hit;
    const grace = this.graceKeys.get(key);
    if (!grace) return undefined;
    if (this.clock() < grace.until) return grace.owner;
    this.graceKeys.delete(key);
    this.log.info({ ref: grace.owner.key, owner: grace.owner.ownerId }, 'rotation grace ended; the previous key no longer authenticates');
    return undefined;
  }

  /** The injected clock, else the resolver's (its deadlines are on it), else Date.now. */
  private clock(): number {
    if (this.now) return this.now();
    return this.resolver?.clock ? this.resolver.clock() : Date.now();
  }

  /** Waits for every cold reference; one shared wait for all concurrent lookups. */
  private resolveCold(): Promise<void> {
    if (this.coldInflight) return this.coldInflight;
    const resolver = this.resolver;
    if (!resolver) return Promise.resolve();
    const refs = [...this.coldRefs];
    const wait = Promise.all(refs.map(async (ref) => {
      const value = await resolver.resolve(ref);
      if (!this.refOwners.has(ref)) return;
      this.coldRefs.delete(ref);
      if (value !== undefined) this.refValues.set(ref, value);
      else {
        this.refValues.delete(ref);
        const owners = [...this.refOwners.get(ref)!].map((o) => o.ownerId);
        this.log.warn({ ref, owners }, 'key reference could not be resolved; its consumers are disabled until it resolves');
      }
      this.resolvedDirty = true;
    })).then(() => {
      this.coldInflight = undefined;
    });
    this.coldInflight = wait;
    return wait;
  }

  /**
   * TTL-driven refresh: peek every reference (no fetch); expired ones are refreshed in the
   * background, evicted ones become cold again. Runs at most every `expiryCheckMs`.
   */
  private checkExpiry(): void {
    const now = this.clock();
    if (now < this.nextExpiryCheck || !this.resolver) return;
    this.nextExpiryCheck = now + this.expiryCheckMs;
    for (const ref of this.refOwners.keys()) {
      const p = this.resolver.peek(ref);
      if (p.state === 'stale') this.resolver.refreshIfStale(ref);
      else if (p.state === 'missing' && !this.coldRefs.has(ref)) {
        // Evicted from the cache or its failure expired: the next miss asks again.
        this.coldRefs.add(ref);
      }
    }
  }

  private rebuildResolved(): void {
    const next = new Map<string, OwnerEntry>();
    const grace = new Map<string, { owner: OwnerEntry; until: number }>();
    for (const [ref, owners] of this.refOwners) {
      const value = this.refValues.get(ref);
      if (value === undefined) continue;
      for (const o of owners) if (!next.has(value)) next.set(value, o);
      const prev = this.refPrevious.get(ref);
      if (prev) for (const o of owners) if (!grace.has(prev.value)) grace.set(prev.value, { owner: o, until: prev.until });
    }
    // A current key always wins over someone's previous one.
    for (const k of next.keys()) grace.delete(k);
    this.resolvedKeys = next;
    this.graceKeys = grace;
    this.resolvedDirty = false;
  }

  close(): void {
    this.unsubscribe?.();
  }
}
