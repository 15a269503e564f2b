import type { Logger } from '@portico/core';
import { isSecretRef } from '@portico/secrets';
import type { ConsumerConf, SecretLookup } from './consumer-index';

/** Who an auth identity (key-auth key, basic-auth username, jwt-auth key) belongs to. */
export interface KeyOwner {
  readonly username: string;
  /** Set when the identity came from `/consumers/<u>/credentials/<id>`. */
  readonly credentialId?: string;
  readonly consumer: ConsumerConf;
  /** The owner's conf of the auth plugin that matched (password, jwt secret, ...); absent for an anonymous consumer. */
  readonly conf?: Readonly<Record<string, unknown>>;
}

export interface OwnerEntry extends KeyOwner {
  /** `c:<u>` or `k:<u>/<credential id>` */
  readonly ownerId: string;
  /** The configured identity: a literal, or a reference (never itself a valid identity). */
  readonly key: string;
  readonly isRef: boolean;
}

export interface OwnerSpec {
  username: string;
  credentialId?: string;
  consumer: ConsumerConf;
  conf: Record<string, unknown>;
  key: string;
}

export interface KeyTableOptions {
  plugin: string;
  resolver?: SecretLookup;
  log: Logger;
  expiryCheckMs: number;
  clock: () => number;
}

/**
 * One auth plugin's identity → owner table (SPEC §8, §9), literal and secret-referenced
 * identities alike.
 *
 * Hit cost: every identity that currently authenticates — literal, or the resolved value of a
 * reference — sits in ONE Map (`keys`), so a secret-backed key costs exactly what a plain key
 * costs on a hit (one Map.get). The Map is maintained incrementally: a consumer change claims
 * or releases its own identity, a reference change re-claims only that reference's owners.
 * `claims` keeps every claimant of an identity, so removing one duplicate promotes the next
 * (the admin API rejects duplicates, but the store may still hold them); a literal beats a
 * resolved reference, as before.
 *
 * References are resolved lazily through the SecretResolver:
 *  - nothing is fetched until a lookup misses while some reference has never been resolved
 *    ("cold"); that lookup awaits every cold reference (one shared fetch), then looks again;
 *  - once resolved, a miss costs nothing: a flood of wrong keys makes no provider call;
 *  - at most every `expiryCheckMs` a lookup peeks the references and asks the resolver to
 *    refresh expired ones in the background (stale-while-revalidate);
 *  - a changed reference (rotated, gone, provider reconfigured) moves its owners to the new
 *    value: the new key works and the old one stops;
 *  - a reference that cannot be resolved disables its owners only (fail closed);
 *  - rotation grace: a previous value still inside its provider's `rotation_grace` keeps
 *    authenticating until the deadline (resolver clock). Checked only on a miss of `keys`,
 *    so it costs the hit path nothing.
 * Identity values are never logged; references and owners are.
 */
export class KeyTable {
  readonly plugin: string;
  private readonly resolver?: SecretLookup;
  private readonly log: Logger;
  private readonly expiryCheckMs: number;
  private readonly clock: () => number;

  private readonly owners = new Map<string, OwnerEntry>();
  /** identity → the owner it authenticates (the hot path's only lookup on a hit) */
  private readonly keys = new Map<string, OwnerEntry>();
  /** identity → every owner claiming it, in claim order */
  private readonly claims = new Map<string, OwnerEntry[]>();
  /** reference → owners using it */
  private readonly refOwners = new Map<string, Set<OwnerEntry>>();
  /** reference → its current value, for references that resolved (claimed in `keys`) */
  private readonly refValues = new Map<string, string>();
  /** reference → the value before a rotation, accepted until `until` (resolver clock) */
  private readonly refPrevious = new Map<string, { value: string; until: number }>();
  /** previous value → owner and deadline; rebuilt from refPrevious when it changes (rare) */
  private graceKeys = new Map<string, { owner: OwnerEntry; until: number }>();
  /** references with no known outcome yet: a miss waits for them */
  private readonly coldRefs = new Set<string>();
  private coldInflight?: Promise<void>;
  private nextExpiryCheck = 0;

  constructor(opts: KeyTableOptions) {
    this.plugin = opts.plugin;
    this.resolver = opts.resolver;
    this.log = opts.log;
    this.expiryCheckMs = opts.expiryCheckMs;
    this.clock = opts.clock;
  }

  // ---- configuration -----------------------------------------------------------------

  /** Sets (or with undefined removes) the identity of one owner. */
  set(ownerId: string, next: OwnerSpec | undefined): void {
    const old = this.owners.get(ownerId);
    if (old) this.remove(old);
    if (!next) return;
    const entry: OwnerEntry = { ownerId, ...next, isRef: isSecretRef(next.key) };
    this.owners.set(ownerId, entry);
    if (!entry.isRef) {
      this.claim(entry.key, entry);
      return;
    }
    let set = this.refOwners.get(entry.key);
    const isNew = !set;
    if (!set) this.refOwners.set(entry.key, (set = new Set()));
    set.add(entry);
    if (isNew) this.learnRef(entry.key);
    else {
      const value = this.refValues.get(entry.key);
      if (value !== undefined) this.claim(value, entry);
      if (this.refPrevious.has(entry.key)) this.rebuildGrace();
    }
  }

  private remove(old: OwnerEntry): void {
    this.owners.delete(old.ownerId);
    if (!old.isRef) {
      this.unclaim(old.key, old);
      return;
    }
    const value = this.refValues.get(old.key);
    if (value !== undefined) this.unclaim(value, old);
    const set = this.refOwners.get(old.key);
    set?.delete(old);
    if (set && set.size === 0) {
      this.refOwners.delete(old.key);
      this.refValues.delete(old.key);
      this.coldRefs.delete(old.key);
      if (this.refPrevious.delete(old.key)) this.rebuildGrace();
    } else if (this.refPrevious.has(old.key)) this.rebuildGrace();
  }

  private claim(key: string, owner: OwnerEntry): void {
    const list = this.claims.get(key);
    if (!list) {
      this.claims.set(key, [owner]);
      this.keys.set(key, owner);
      return;
    }
    list.push(owner);
    this.keys.set(key, winner(list));
  }

  private unclaim(key: string, owner: OwnerEntry): void {
    const list = this.claims.get(key);
    if (!list) return;
    const i = list.indexOf(owner);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) {
      this.claims.delete(key);
      this.keys.delete(key);
    } else this.keys.set(key, winner(list));
  }

  /** Moves a reference's owners from its old value to `value` (undefined: unresolved). */
  private setRefValue(ref: string, value: string | undefined): void {
    const old = this.refValues.get(ref);
    if (old === value) return;
    const owners = this.refOwners.get(ref);
    if (!owners) return;
    if (old !== undefined) for (const o of owners) this.unclaim(old, o);
    if (value === undefined) this.refValues.delete(ref);
    else {
      this.refValues.set(ref, value);
      for (const o of owners) this.claim(value, o);
    }
  }

  /** Records what the resolver already knows about a reference, without fetching. */
  private learnRef(ref: string): void {
    if (!this.resolver) {
      this.coldRefs.delete(ref); // no resolver: references never resolve, nothing to wait for
      return;
    }
    const p = this.resolver.peek(ref);
    const prev = this.refPrevious.get(ref);
    if (p.previous !== undefined && p.previousUntil !== undefined) {
      if (prev?.value !== p.previous || prev.until !== p.previousUntil) {
        this.refPrevious.set(ref, { value: p.previous, until: p.previousUntil });
        this.rebuildGrace();
      }
    } else if (this.refPrevious.delete(ref)) this.rebuildGrace();
    this.setRefValue(ref, p.value);
    if (p.value === undefined && p.state === 'missing') this.coldRefs.add(ref);
    else this.coldRefs.delete(ref);
  }

  /** Resolver change listener. */
  onSecretChange(ref: string): void {
    if (!this.refOwners.has(ref)) return;
    this.learnRef(ref);
    this.log.info({ ref, plugin: this.plugin }, 'secret reference changed; key table updated');
  }

  private rebuildGrace(): void {
    const grace = new Map<string, { owner: OwnerEntry; until: number }>();
    for (const [ref, prev] of this.refPrevious) {
      for (const o of this.refOwners.get(ref) ?? []) if (!grace.has(prev.value)) grace.set(prev.value, { owner: o, until: prev.until });
    }
    this.graceKeys = grace;
  }

  // ---- lookup ------------------------------------------------------------------------

  /**
   * The owner of `key`, synchronously when the answer is known; a Promise only when the key
   * is unknown and some referenced identities have never been resolved.
   */
  lookup(key: string): KeyOwner | undefined | Promise<KeyOwner | undefined> {
    if (this.refOwners.size > 0) this.checkExpiry();
    const hit = this.keys.get(key);
    if (hit) return hit;
    const grace = this.graceKeys.size > 0 ? this.findGrace(key) : undefined;
    if (grace || this.coldRefs.size === 0) return grace;
    return this.lookupAfterCold(key);
  }

  private async lookupAfterCold(key: string): Promise<KeyOwner | undefined> {
    // Twice at most: a reference that turned cold while the first wait ran gets one more.
    for (let round = 0; round < 2; round++) {
      await this.resolveCold();
      const hit = this.keys.get(key) ?? this.findGrace(key);
      if (hit || this.coldRefs.size === 0) return hit;
    }
    return undefined;
  }

  private findGrace(key: string): OwnerEntry | undefined {
    const grace = this.graceKeys.get(key);
    if (!grace) return undefined;
    // A current identity always wins over someone's previous one.
    if (this.keys.has(key)) return undefined;
    if (this.clock() < grace.until) return grace.owner;
    this.graceKeys.delete(key);
    this.log.info({ ref: grace.owner.key, owner: grace.owner.ownerId }, 'rotation grace ended; the previous key no longer authenticates');
    return undefined;
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
      this.setRefValue(ref, value);
      if (value === undefined) {
        const owners = [...this.refOwners.get(ref)!].map((o) => o.ownerId);
        this.log.warn({ ref, owners, plugin: this.plugin }, 'reference could not be resolved; its consumers are disabled until it resolves');
      }
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
}

/** A literal identity beats a resolved reference; otherwise the first claim wins. */
function winner(list: readonly OwnerEntry[]): OwnerEntry {
  for (const o of list) if (!o.isRef) return o;
  return list[0];
}
