import { componentLogger, type Logger } from '@portico/core';
import { LruMap } from './cache';
import { SecretNotFoundError } from './errors';
import type { ProviderFactory, SecretProvider } from './provider';
import { createAwsProvider } from './providers/aws';
import { createEnvProvider } from './providers/env';
import { createGcpProvider } from './providers/gcp';
import { createVaultProvider } from './providers/vault';
import { parseSecretRef, type SecretRef } from './reference';
import { StatsBook, type ManagerStats } from './stats';

export interface SecretResolverOptions {
  /** how long a resolved value is fresh (`apisix.lru.secret.ttl`) */
  ttlSeconds: number;
  /** how long a failure is remembered before the next attempt (`apisix.lru.secret.neg_ttl`) */
  negTtlSeconds: number;
  /** LRU bound on cached references (`apisix.lru.secret.count`) */
  maxEntries: number;
  /** clock in milliseconds (default Date.now); tests inject one to move time */
  now?: () => number;
  /** default componentLogger('secrets') */
  logger?: Logger;
  /** provider factories by manager name (default: aws, vault, gcp) */
  providers?: Record<string, ProviderFactory>;
  /** environment for `$env://` references and `$env://` strings in confs (default process.env) */
  env?: NodeJS.ProcessEnv;
  /**
   * How long past its TTL a value may still be served: while one background refresh runs
   * (stale-while-revalidate) and while refreshes fail (stale-if-error). Past it the value is
   * dropped and the reference fails closed. A provider conf's `resurrect_ttl` overrides it.
   * Default 3600.
   */
  resurrectTtlSeconds?: number;
  /** TTL spread so nodes do not refresh in lockstep: ttl × (1 ± jitter) (default 0.1) */
  jitter?: number;
  /** uniform [0, 1) (default Math.random); tests inject one to pin the jitter */
  random?: () => number;
}

export type PeekState = 'fresh' | 'stale' | 'failed' | 'missing';

export interface PeekResult {
  state: PeekState;
  value?: string;
  /**
   * Rotation grace (provider setting `rotation_grace`): the value that was current before the
   * last rotation this node saw (AWSPREVIOUS where the provider can read it), still acceptable
   * until `previousUntil` (resolver clock, ms). Absent when there is no grace in force.
   */
  previous?: string;
  previousUntil?: number;
}

export type ChangeListener = (ref: string) => void;

/**
 * What the data plane needs of a secret cache: the node's SecretResolver, or a proxy worker's
 * mirror of its primary's (RemoteSecretResolver).
 */
export interface SecretCache {
  /** (Re)configures the provider of `/secrets/<manager>/<confId>`; undefined removes it. */
  setProvider(manager: string, confId: string, conf: unknown | undefined): void;
  peek(raw: string): PeekResult;
  whenSettled(raw: string): Promise<void>;
  clock(): number;
  resolve(raw: string): Promise<string | undefined>;
  refreshIfStale(raw: string): void;
  onChange(listener: ChangeListener): () => void;
  stats(): Record<string, ManagerStats>;
  close(): void;
}

/**
 * A reference's cached state with its deadlines (resolver clock, ms): what a process that
 * mirrors this cache (a proxy worker, see RemoteSecretResolver) needs to answer peek() itself.
 */
export interface EntryState {
  value?: string;
  previous?: string;
  previousUntil: number;
  freshUntil: number;
  staleUntil: number;
  failedUntil: number;
}

interface Entry {
  ref: SecretRef;
  /** provider key: `<manager>/<conf-id>`, or `env` */
  owner: string;
  /** stats label */
  manager: string;
  /** last value obtained; kept past freshUntil for stale-while-revalidate / stale-if-error */
  value?: string;
  freshUntil: number;
  /** the value may be served until then (freshUntil + resurrect_ttl) */
  staleUntil: number;
  /** rotation grace: the value before the last change, acceptable until previousUntil */
  previous?: string;
  previousUntil: number;
  /** a failure is remembered until then (neg_ttl); 0 when the last fetch succeeded */
  failedUntil: number;
  inflight?: Promise<string | undefined>;
}

interface ProviderSlot {
  provider?: SecretProvider;
  /** `rotation_grace` in ms (0: none) */
  graceMs: number;
  /** `resurrect_ttl` in ms, when the conf sets it */
  resurrectMs?: number;
  /** why there is no provider (unsupported manager, unusable conf); names no values */
  error?: string;
  confJson: string;
}

type Outcome = { ok: true; value: string; previous?: string } | { ok: false; error: unknown };

const ENV_OWNER = 'env';
/** A fetch whose provider was reconfigured meanwhile is retried this many times at most. */
const MAX_RECONFIGURED_RETRIES = 2;
const MAX_INVALID_REMEMBERED = 1000;

/**
 * The per-node secret cache (SPEC §9): resolves `$secret://` and `$env://` references lazily,
 * keeps values for ttl, shares one provider call among concurrent callers (single-flight),
 * remembers failures for neg_ttl, and serves the last value while a refresh fails
 * (stale-if-error). The hot path uses peek(), which never waits.
 */
export class SecretResolver implements SecretCache {
  private readonly entries: LruMap<string, Entry>;
  private readonly slots = new Map<string, ProviderSlot>();
  /**
   * Bumped on every setProvider for a key and never reset, so a fetch that started under an
   * older conf can tell, when it lands, that its answer must not be cached.
   */
  private readonly generations = new Map<string, number>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly statsBook = new StatsBook();
  private readonly invalidWarned = new Set<string>();
  private readonly envProvider: SecretProvider;
  private readonly factories: Record<string, ProviderFactory>;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly ttlMs: number;
  private readonly negTtlMs: number;
  private readonly resurrectMs: number;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(opts: SecretResolverOptions) {
    this.entries = new LruMap(opts.maxEntries);
    this.ttlMs = opts.ttlSeconds * 1000;
    this.negTtlMs = opts.negTtlSeconds * 1000;
    this.resurrectMs = (opts.resurrectTtlSeconds ?? 3600) * 1000;
    this.jitter = Math.min(Math.max(opts.jitter ?? 0.1, 0), 0.5);
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger ?? componentLogger('secrets');
    const env = opts.env ?? process.env;
    this.envProvider = createEnvProvider(env);
    this.factories = opts.providers ?? {
      aws: (conf) => createAwsProvider(conf, { env }),
      vault: (conf) => createVaultProvider(conf, { env }),
      gcp: (conf) => createGcpProvider(conf, { env }),
    };
  }

  /**
   * (Re)builds the provider for `/secrets/<manager>/<confId>`, or removes it when conf is
   * undefined, and drops the cached values of that provider only. Listeners hear about every
   * dropped reference so dependants re-resolve through the new conf. Building makes no call.
   */
  setProvider(manager: string, confId: string, conf: unknown | undefined): void {
    const owner = `${manager}/${confId}`;
    const previous = this.slots.get(owner);
    const confJson = conf === undefined ? '' : JSON.stringify(conf);
    // A re-delivered identical conf (watch replay, re-range) must not flush a warm cache.
    if (previous && previous.provider && conf !== undefined && previous.confJson === confJson) return;

    this.generations.set(owner, (this.generations.get(owner) ?? 0) + 1);
    previous?.provider?.close?.();
    if (conf === undefined) {
      this.slots.delete(owner);
    } else {
      this.slots.set(owner, this.build(manager, confId, conf, confJson));
    }

    const dropped: string[] = [];
    for (const [raw, entry] of this.entries.entries()) if (entry.owner === owner) dropped.push(raw);
    for (const raw of dropped) this.entries.delete(raw);
    for (const raw of dropped) this.emit(raw);
  }

  /**
   * The cached state of a reference, synchronously. Never fetches. A value past its
   * resurrect_ttl is dropped here (listeners hear it), so it stops authenticating even when
   * nothing asks the provider.
   */
  peek(raw: string): PeekResult {
    const entry = this.entries.get(raw);
    if (!entry) return { state: parseSecretRef(raw) ? 'missing' : 'failed' };
    const now = this.now();
    this.expireStale(entry, now);
    return peekState(entry, now);
  }

  /** Resolves once no fetch of `raw` is in flight (a background refresh has landed). */
  async whenSettled(raw: string): Promise<void> {
    for (let entry = this.entries.peek(raw); entry?.inflight; entry = this.entries.peek(raw)) await entry.inflight;
  }

  /** The resolver's clock (ms); grace deadlines in peek() are on it. */
  clock(): number {
    return this.now();
  }

  /** The cached state of a reference with its deadlines; undefined when not cached. Never fetches. */
  inspect(raw: string): EntryState | undefined {
    const e = this.entries.peek(raw);
    if (!e) return undefined;
    return {
      value: e.value,
      previous: e.previous,
      previousUntil: e.previousUntil,
      freshUntil: e.freshUntil,
      staleUntil: e.staleUntil,
      failedUntil: e.failedUntil,
    };
  }

  /** Number of cached references (bounded by maxEntries). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The value of a reference: cached if fresh; an expired value within resurrect_ttl is
   * answered at once while one background refresh runs (stale-while-revalidate); otherwise
   * fetched (once for all concurrent callers). On failure: the previous value if it is still
   * within resurrect_ttl (stale-if-error), otherwise undefined. Never rejects.
   */
  resolve(raw: string): Promise<string | undefined> {
    return this.resolveAttempt(raw, 0);
  }

  /**
   * Starts a background refresh when the reference is expired or not cached yet
   * (stale-while-revalidate) and returns at once. Does nothing while a failure is remembered,
   * so a failing provider is asked at most once per neg_ttl.
   */
  refreshIfStale(raw: string): void {
    const entry = this.entries.peek(raw);
    if (entry) {
      const now = this.now();
      if (entry.inflight || now < entry.failedUntil) return;
      if (entry.value !== undefined && now < entry.freshUntil) return;
      if (entry.value !== undefined) {
        this.expireStale(entry, now);
        if (entry.value !== undefined) {
          void this.fetch(entry, 0);
          return;
        }
      }
    }
    void this.resolve(raw);
  }

  /**
   * Calls `listener(ref)` when a reference's value changed (a new value, or it became
   * unresolvable, or its provider was reconfigured). Returns an unsubscribe function.
   */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): Record<string, ManagerStats> {
    return this.statsBook.snapshot();
  }

  /** Releases provider connections (SDK keep-alive sockets). */
  close(): void {
    for (const slot of this.slots.values()) slot.provider?.close?.();
    this.slots.clear();
  }

  private build(manager: string, confId: string, conf: unknown, confJson: string): ProviderSlot {
    const { graceMs, resurrectMs } = cacheSettings(conf);
    const base = { confJson, graceMs, resurrectMs };
    const factory = Object.prototype.hasOwnProperty.call(this.factories, manager) ? this.factories[manager] : undefined;
    if (!factory) {
      const error = `secret manager "${manager}" is not supported`;
      this.log.warn({ manager, confId }, `${error}; its references will not resolve`);
      return { ...base, error };
    }
    try {
      return { ...base, provider: factory(conf) };
    } catch (e) {
      const error = `secret manager ${manager}/${confId} has an unusable configuration: ${(e as Error)?.message ?? e}`;
      this.log.warn({ manager, confId }, error);
      return { ...base, error };
    }
  }

  private resolveAttempt(raw: string, attempt: number): Promise<string | undefined> {
    const entry = this.entryFor(raw);
    if (!entry) return Promise.resolve(undefined);
    const stats = this.statsBook.for(entry.manager);
    const now = this.now();
    if (entry.value !== undefined && now < entry.freshUntil) {
      stats.hits++;
      return Promise.resolve(entry.value);
    }
    this.expireStale(entry, now);
    if (entry.value !== undefined) {
      // Expired but within resurrect_ttl: answer now, refresh once in the background (unless
      // a failure is remembered, then the next try waits for neg_ttl).
      stats.staleServes++;
      if (!entry.inflight && now >= entry.failedUntil) void this.fetch(entry, attempt);
      return Promise.resolve(entry.value);
    }
    if (now < entry.failedUntil) {
      stats.hits++;
      return Promise.resolve(undefined);
    }
    stats.misses++;
    return entry.inflight ?? this.fetch(entry, attempt);
  }

  /** The cache entry of a reference, created on first use; undefined for a malformed reference. */
  private entryFor(raw: string): Entry | undefined {
    const existing = this.entries.get(raw);
    if (existing) return existing;
    const ref = parseSecretRef(raw);
    if (!ref) {
      if (!this.invalidWarned.has(raw)) {
        if (this.invalidWarned.size >= MAX_INVALID_REMEMBERED) this.invalidWarned.clear();
        this.invalidWarned.add(raw);
        this.log.warn({ ref: raw }, 'malformed secret reference; it will not resolve');
      }
      return undefined;
    }
    const entry: Entry = {
      ref,
      owner: ref.kind === 'env' ? ENV_OWNER : `${ref.manager}/${ref.confId}`,
      manager: ref.kind === 'env' ? 'env' : ref.manager,
      freshUntil: 0,
      staleUntil: 0,
      previousUntil: 0,
      failedUntil: 0,
    };
    this.entries.set(raw, entry);
    return entry;
  }

  private fetch(entry: Entry, attempt: number): Promise<string | undefined> {
    this.statsBook.for(entry.manager).fetches++;
    const generation = this.generations.get(entry.owner) ?? 0;
    const inflight = this.callProvider(entry)
      .then((o): Outcome => ({ ok: true, ...o }), (error: unknown): Outcome => ({ ok: false, error }))
      .then((outcome) => this.settle(entry, generation, outcome, attempt));
    entry.inflight = inflight;
    return inflight;
  }

  private async callProvider(entry: Entry): Promise<{ value: string; previous?: string }> {
    const ref = entry.ref;
    if (ref.kind === 'env') return { value: await this.envProvider.get(ref.field === undefined ? ref.name : `${ref.name}/${ref.field}`) };
    const slot = this.slots.get(entry.owner);
    if (!slot) throw new Error(`secret manager ${entry.owner} is not configured`);
    if (!slot.provider) throw new Error(slot.error);
    const value = await slot.provider.get(ref.path);
    // Rotation grace: a changed value means a rotation; ask the provider for the version it
    // now calls previous (AWSPREVIOUS). One extra call per rotation, none in the steady state.
    let previous: string | undefined;
    if (slot.graceMs > 0 && entry.value !== undefined && entry.value !== value && slot.provider.getPrevious) {
      try {
        previous = await slot.provider.getPrevious(ref.path);
      } catch (e) {
        this.log.warn({ ref: ref.raw, manager: entry.manager, reason: (e as Error)?.message ?? String(e) },
          'could not read the previous version for rotation grace; keeping the value this node had');
      }
    }
    return { value, previous };
  }

  /** Drops a value that is past its resurrect_ttl (fail closed), telling listeners. */
  private expireStale(entry: Entry, now: number): void {
    if (entry.value === undefined || now < entry.staleUntil) return;
    entry.value = undefined;
    entry.previous = undefined;
    entry.freshUntil = 0;
    if (this.entries.peek(entry.ref.raw) === entry) {
      this.log.warn({ ref: entry.ref.raw, manager: entry.manager },
        'secret value expired past resurrect_ttl without a successful refresh; it is no longer served');
      this.emit(entry.ref.raw);
    }
  }

  private ttlFor(): number {
    return this.ttlMs * (1 + this.jitter * (2 * this.random() - 1));
  }

  private settle(entry: Entry, generation: number, outcome: Outcome, attempt: number): Promise<string | undefined> | string | undefined {
    entry.inflight = undefined;
    const raw = entry.ref.raw;
    if ((this.generations.get(entry.owner) ?? 0) !== generation) {
      // The provider was reconfigured while this fetch ran, so the answer came from the old
      // conf: do not cache it, ask again through the new one.
      return attempt < MAX_RECONFIGURED_RETRIES ? this.resolveAttempt(raw, attempt + 1) : undefined;
    }
    // Evicted meanwhile (LRU): still a valid answer for the waiting callers, just not cached.
    const cached = this.entries.peek(raw) === entry;
    const now = this.now();

    if (outcome.ok) {
      if (cached) {
        const old = entry.value;
        const changed = old !== outcome.value;
        const slot = entry.ref.kind === 'secret' ? this.slots.get(entry.owner) : undefined;
        const graceMs = slot?.graceMs ?? 0;
        if (changed && old !== undefined && graceMs > 0) {
          const previous = outcome.previous !== undefined && outcome.previous !== outcome.value ? outcome.previous : old;
          entry.previous = previous;
          entry.previousUntil = now + graceMs;
          this.log.info({ ref: raw, manager: entry.manager, graceSeconds: graceMs / 1000 },
            'secret rotated; the previous value stays accepted for rotation_grace');
        } else if (changed) {
          entry.previous = undefined;
          entry.previousUntil = 0;
        }
        entry.value = outcome.value;
        entry.freshUntil = now + this.ttlFor();
        entry.staleUntil = entry.freshUntil + (slot?.resurrectMs ?? this.resurrectMs);
        entry.failedUntil = 0;
        if (changed) this.emit(raw);
      }
      return outcome.value;
    }

    const stats = this.statsBook.for(entry.manager);
    stats.errors++;
    if (cached) {
      entry.failedUntil = now + this.negTtlMs;
      // Absence is an answer, not an outage: a deleted secret must stop authenticating.
      if (outcome.error instanceof SecretNotFoundError && entry.value !== undefined) {
        entry.value = undefined;
        entry.previous = undefined;
        entry.freshUntil = 0;
        this.emit(raw);
      } else {
        this.expireStale(entry, now);
      }
    }
    const stale = entry.value;
    const reason = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    this.log.warn({ ref: raw, manager: entry.manager, reason, servingStale: stale !== undefined },
      stale !== undefined ? 'secret refresh failed; serving the previous value' : 'secret reference could not be resolved');
    return stale;
  }

  private emit(raw: string): void {
    for (const listener of this.listeners) {
      try {
        listener(raw);
      } catch (e) {
        this.log.error({ ref: raw, err: e }, 'secret change listener failed');
      }
    }
  }
}

/** What peek() answers for a cached state at `now` (shared with the workers' mirror). */
export function peekState(e: EntryState, now: number): PeekResult {
  if (e.value !== undefined && now < e.staleUntil) {
    const out: PeekResult = { state: now < e.freshUntil ? 'fresh' : 'stale', value: e.value };
    if (e.previous !== undefined && now < e.previousUntil) {
      out.previous = e.previous;
      out.previousUntil = e.previousUntil;
    }
    return out;
  }
  return { state: now < e.failedUntil ? 'failed' : 'missing' };
}

/** The cache settings a provider conf may carry, whatever the manager. */
function cacheSettings(conf: unknown): { graceMs: number; resurrectMs?: number } {
  const c = (conf ?? {}) as Record<string, unknown>;
  const grace = typeof c.rotation_grace === 'number' && c.rotation_grace > 0 ? c.rotation_grace * 1000 : 0;
  const resurrect = typeof c.resurrect_ttl === 'number' && c.resurrect_ttl >= 0 ? c.resurrect_ttl * 1000 : undefined;
  return { graceMs: grace, resurrectMs: resurrect };
}
