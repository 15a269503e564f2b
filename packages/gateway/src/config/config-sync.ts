import {
  componentLogger,
  decryptFields,
  parseResourceKey,
  RESOURCE_KINDS,
  type FieldCipher,
  validateResource,
  type ConfigStore,
  type KeyValue,
  type Logger,
  type ResourceRef,
  type WatchEvent,
  type WatchHandle,
} from '@portico/core';
import { ListenerSet } from './listener-set';

/** A resource as the data plane holds it: parsed and validated. */
export interface ResourceItem {
  key: string;
  ref: ResourceRef;
  value: Record<string, unknown>;
  createRevision: number;
  modRevision: number;
}

export type ResourceChange =
  | { type: 'put'; item: ResourceItem; prev?: ResourceItem }
  | { type: 'delete'; key: string; ref: ResourceRef; prev: ResourceItem };

/**
 * Receives every effective change, in store order, synchronously. One call is one store batch
 * (a watch batch, or the whole first load, or the diff of a re-range): apply it completely
 * before returning, and requests will never see half of it.
 */
export type ChangeListener = (changes: readonly ResourceChange[], revision: number) => void;

/**
 * Told after every applied batch, changed tables or not. `configChanged` is false when the
 * batch held only keys outside the resource layout (heartbeats under `/data_plane/`): a
 * heartbeat writer must not react to heartbeats, or the nodes would bump each other's
 * revisions forever.
 */
export type AppliedListener = (revision: number, configChanged: boolean) => void;

/**
 * A key whose current value in the store this node refuses (not JSON, undecryptable, or failing
 * validation). The previous valid value, if any, stays in force; the key is listed until the
 * store holds a valid value for it or none.
 */
export interface RejectedItem {
  key: string;
  modRevision: number;
  reason: string;
  /** True when an older valid value of the key is still applied. */
  keptPrevious: boolean;
}

/** Where the data plane's configuration currently comes from, when a snapshot was involved. */
export interface SnapshotState {
  /** True while serving a local snapshot because the store has not answered yet (SPEC §5.5). */
  stale: boolean;
  /** Revision of the snapshot that was loaded. */
  revision: number;
}

export interface ConfigSyncOptions {
  store: ConfigStore;
  /** Key prefix, default `/apisix`. */
  prefix?: string;
  logger?: Logger;
  /**
   * Decrypts fields encrypted at rest (SPEC §5.6). Without one, an item holding an encrypted
   * field is rejected (never used as if the ciphertext were the value).
   */
  cipher?: FieldCipher;
  /** Retry backoff after a failed range/watch: doubles from `initialMs` up to `maxMs`, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
}

/** A watch that dies sooner than this after being set up counts as a quick reset. */
const QUICK_RESET_MS = 5000;


/**
 * Loads the prefix once, then follows it with one watch (SPEC §5).
 *
 *  - start: range → apply → watch from `revision + 1`.
 *  - onReset (compaction, lost stream, store restart) or a failed range/watch: retry with
 *    exponential backoff and jitter; re-range and diff against what is held (an unchanged
 *    `modRevision` keeps the old object, keys gone from the store are deleted); watch again from
 *    the new revision. A watch generation counter drops anything a dead watch still delivers,
 *    and events at or below `appliedRevision` are skipped, so nothing is applied twice.
 *  - sensitive fields encrypted at rest are decrypted (an item that cannot be is invalid);
 *  - an item that is not JSON, not an object, or fails `validateResource` is skipped with a log
 *    line naming the key; the previous valid value for that key stays in force.
 *  - while the store is unreachable nothing changes: listeners keep their last tables.
 */
export class ConfigSync {
  readonly prefix: string;
  private readonly store: ConfigStore;
  private readonly log: Logger;
  private readonly cipher?: FieldCipher;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;

  private readonly items = new Map<string, ResourceItem>();
  /** Keys whose current store value was rejected, with why (logged once per value). */
  private readonly rejected = new Map<string, RejectedItem>();
  private _rejections = 0;
  private readonly listeners = new ListenerSet<Parameters<ChangeListener>>((err) =>
    this.log.error({ err: (err as Error)?.message ?? String(err) }, 'configuration listener failed'));
  private readonly appliedListeners = new ListenerSet<Parameters<AppliedListener>>((err) =>
    this.log.error({ err: (err as Error)?.message ?? String(err) }, 'applied-revision listener failed'));
  /** The stored form (encrypted fields still encrypted) of every held item: what a snapshot saves. */
  private readonly raw = new Map<string, KeyValue>();
  private _snapshot?: SnapshotState;
  private readyWaiters: Array<() => void> = [];

  private _appliedRevision = 0;
  private _ready = false;
  private _connected = false;
  private _resets = 0;
  private _lastError?: string;

  private generation = 0;
  private watchHandle?: WatchHandle;
  private syncing = false;
  private stopped = true;
  private retryTimer?: NodeJS.Timeout;
  private wakeRetry?: () => void;
  /** When the current watch was established, and how many watches in a row died young. */
  private watchSince = 0;
  private quickResets = 0;

  constructor(opts: ConfigSyncOptions) {
    this.store = opts.store;
    this.prefix = (opts.prefix ?? '/apisix').replace(/\/$/, '');
    this.log = opts.logger ?? componentLogger('config-sync');
    this.cipher = opts.cipher;
    this.backoffInitialMs = opts.backoff?.initialMs ?? 200;
    this.backoffMaxMs = opts.backoff?.maxMs ?? 10_000;
  }

  /** Highest store revision whose effects are applied (0 before the first load). */
  get appliedRevision(): number {
    return this._appliedRevision;
  }

  /** True once the first load has been applied. Stays true through store outages. */
  get ready(): boolean {
    return this._ready;
  }

  /** True while a watch is established; false during an outage or a resync. */
  get connected(): boolean {
    return this._connected;
  }

  /** Number of watch resets seen (compactions, lost streams, store restarts). */
  get resets(): number {
    return this._resets;
  }

  get lastError(): string | undefined {
    return this._lastError;
  }

  /** The keys whose current store value this node refuses, by key. */
  rejectedItems(): RejectedItem[] {
    return [...this.rejected.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /** How many store values were refused since start (each value once). */
  get rejections(): number {
    return this._rejections;
  }

  /** The valid item held for a key. */
  get(key: string): ResourceItem | undefined {
    return this.items.get(key);
  }

  /** Every valid item held. */
  values(): IterableIterator<ResourceItem> {
    return this.items.values();
  }

  /**
   * Registers a listener. It first receives every item already held (as puts), then every
   * later change. Returns an unsubscribe function.
   */
  subscribe(listener: ChangeListener): () => void {
    if (this.items.size > 0) {
      listener([...this.items.values()].map((item) => ({ type: 'put' as const, item })), this._appliedRevision);
    }
    return this.listeners.add(listener);
  }

  /** Registers an AppliedListener; returns an unsubscribe function. */
  onApplied(listener: AppliedListener): () => void {
    return this.appliedListeners.add(listener);
  }

  /**
   * The held items in their stored form, with the revision they were applied at. Values keep
   * their at-rest encryption, so a snapshot written from this holds no plaintext secrets.
   */
  storedItems(): { revision: number; items: KeyValue[] } {
    return { revision: this._appliedRevision, items: [...this.raw.values()] };
  }

  /** Set once a local snapshot was loaded with seed(); `stale` until the store answers. */
  get snapshot(): SnapshotState | undefined {
    return this._snapshot;
  }

  /**
   * Loads a local snapshot before start() (SPEC §5.5). Its items go through the same
   * validation as a range and reach the listeners at once, but the node reports ready only
   * when the store answers or the first attempt to reach it fails — so a node whose store is
   * up never advertises a configuration that may be old. The first successful range diffs
   * against the seeded items like any re-range.
   */
  seed(items: KeyValue[], revision: number): void {
    if (!this.stopped) throw new Error('seed() must be called before start()');
    this.applySnapshot(items, revision, false);
    this._snapshot = { stale: true, revision };
    this.log.info({ revision, items: this.items.size }, 'local snapshot loaded; waiting for the config store');
  }

  /** Resolves once the first load is applied. */
  whenReady(): Promise<void> {
    if (this._ready) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Starts loading and watching. Returns at once; see `ready` / `whenReady()`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.requestSync();
  }

  /** Cancels the watch and any pending retry. The store is not closed (the caller owns it). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    const handle = this.watchHandle;
    this.watchHandle = undefined;
    this._connected = false;
    // A range or watch call still in flight is not awaited (a hung store must not hang
    // shutdown): the loop sees `stopped` when it returns and cancels what it got.
    if (handle) await handle.cancel().catch(() => undefined);
  }

  // ---- sync loop ---------------------------------------------------------------------

  private requestSync(): void {
    if (this.stopped || this.syncing) return;
    this.syncing = true;
    void this.syncLoop();
  }

  /** range → diff → watch, retried with backoff until a watch is established or stop(). */
  private async syncLoop(): Promise<void> {
    let attempt = 0;
    // A store that kills every watch right after it is set up must not be re-ranged in a
    // tight loop: the first reset re-ranges at once, repeated quick ones back off.
    if (this.quickResets > 1) await this.sleep(this.backoffDelay(this.quickResets - 1));
    while (!this.stopped) {
      const gen = ++this.generation;
      let step = 'range';
      try {
        const snapshot = await this.store.range(this.prefix + '/');
        if (this.stopped) break;
        this.applySnapshot(snapshot.items, snapshot.revision);
        step = 'watch';
        const handle = await this.store.watch(this.prefix + '/', snapshot.revision + 1, {
          onEvents: (events, revision) => this.onEvents(gen, events, revision),
          onReset: (reason) => this.onReset(gen, reason),
        });
        if (this.stopped || gen !== this.generation) {
          // Stopped, or the new watch already reset while it was being set up.
          await handle.cancel().catch(() => undefined);
          if (this.stopped) break;
          throw new Error('watch reset while it was being established');
        }
        this.watchHandle = handle;
        this.watchSince = Date.now();
        this._connected = true;
        this.syncing = false;
        if (attempt > 0) this.log.info({ revision: this._appliedRevision }, 'config store watch re-established');
        return;
      } catch (err) {
        if (this.stopped) break;
        attempt++;
        this._lastError = (err as Error).message;
        const delay = this.backoffDelay(attempt);
        if (!this._ready && this._snapshot) {
          this.log.warn({ revision: this._snapshot.revision }, 'config store unreachable at start; serving the local snapshot (stale)');
          this.markReady();
        }
        this.log.warn({ err: this._lastError, step, attempt, retryInMs: delay, revision: this._appliedRevision },
          'config store unavailable; serving the last applied configuration');
        await this.sleep(delay);
      }
    }
    this.syncing = false;
  }

  private backoffDelay(attempt: number): number {
    const base = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(attempt - 1, 20));
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeRetry = resolve;
      this.retryTimer = setTimeout(resolve, ms);
    }).then(() => {
      this.retryTimer = undefined;
      this.wakeRetry = undefined;
    });
  }

  private onReset(gen: number, reason: Error): void {
    if (gen !== this.generation || this.stopped) return;
    this.generation++;
    this._resets++;
    this.quickResets = Date.now() - this.watchSince < QUICK_RESET_MS ? this.quickResets + 1 : 0;
    this._connected = false;
    this._lastError = reason.message;
    const handle = this.watchHandle;
    this.watchHandle = undefined;
    handle?.cancel().catch(() => undefined);
    this.log.warn({ err: reason.message, revision: this._appliedRevision }, 'config watch reset; re-ranging');
    this.requestSync();
  }

  // ---- applying ----------------------------------------------------------------------

  private onEvents(gen: number, events: WatchEvent[], revision: number): void {
    if (gen !== this.generation || this.stopped) return;
    const changes: ResourceChange[] = [];
    let configChanged = false;
    for (const ev of events) {
      if (!configChanged) configChanged = parseResourceKey(this.prefix, ev.type === 'put' ? ev.kv.key : ev.key) !== undefined;
      if (ev.type === 'put') {
        if (ev.kv.modRevision <= this._appliedRevision) continue;
        const c = this.putChange(ev.kv);
        if (c) changes.push(c);
      } else {
        if (ev.modRevision <= this._appliedRevision) continue;
        const c = this.deleteChange(ev.key);
        if (c) changes.push(c);
      }
    }
    this.commit(changes, Math.max(revision, this._appliedRevision));
    this.notifyApplied(configChanged);
  }

  /** Diff a full range (or a seeded local snapshot, `fromStore` false) against what is held. */
  private applySnapshot(kvs: KeyValue[], revision: number, fromStore = true): void {
    const changes: ResourceChange[] = [];
    const seen = new Set<string>();
    // A store that went back in time (restored, or replaced by an empty one) makes equal mod
    // revisions meaningless: then every item is re-read.
    const rewound = revision < this._appliedRevision;
    if (rewound) {
      this.log.warn({ revision, applied: this._appliedRevision }, 'config store revision went backwards; reloading every item');
      this.rejected.clear();
    }
    for (const kv of kvs) {
      seen.add(kv.key);
      const held = this.items.get(kv.key);
      if (held && held.modRevision === kv.modRevision && !rewound) continue; // unchanged: keep the object
      if (this.rejected.get(kv.key)?.modRevision === kv.modRevision) continue; // still the same invalid value
      const c = this.putChange(kv);
      if (c) changes.push(c);
    }
    for (const key of [...this.items.keys()]) {
      if (!seen.has(key)) {
        const c = this.deleteChange(key);
        if (c) changes.push(c);
      }
    }
    for (const key of [...this.rejected.keys()]) if (!seen.has(key)) this.rejected.delete(key);
    this.commit(changes, revision);
    this._appliedRevision = revision;
    if (!fromStore) return;
    if (this._snapshot?.stale) {
      this._snapshot = { stale: false, revision: this._snapshot.revision };
      this.log.info({ revision, snapshotRevision: this._snapshot.revision }, 'config store reached; no longer serving the local snapshot');
    }
    if (!this._ready) this.log.info({ revision, items: this.items.size }, 'configuration loaded');
    this.markReady();
    // A full range may stand for any number of missed changes: always tell.
    this.notifyApplied(true);
  }

  private markReady(): void {
    if (this._ready) return;
    this._ready = true;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }

  private notifyApplied(configChanged: boolean): void {
    this.appliedListeners.emit(this._appliedRevision, configChanged);
  }

  private putChange(kv: KeyValue): ResourceChange | undefined {
    const ref = parseResourceKey(this.prefix, kv.key);
    if (!ref) return undefined; // outside the layout (heartbeats, foreign keys)
    const value = this.parse(ref, kv);
    if (!value) return undefined;
    this.rejected.delete(kv.key);
    const item: ResourceItem = { key: kv.key, ref, value, createRevision: kv.createRevision, modRevision: kv.modRevision };
    const prev = this.items.get(kv.key);
    this.items.set(kv.key, item);
    this.raw.set(kv.key, kv);
    return { type: 'put', item, prev };
  }

  private deleteChange(key: string): ResourceChange | undefined {
    this.rejected.delete(key);
    const prev = this.items.get(key);
    if (!prev) return undefined;
    this.items.delete(key);
    this.raw.delete(key);
    return { type: 'delete', key, ref: prev.ref, prev };
  }

  /** Parses and validates; logs and returns undefined for an invalid item. */
  private parse(ref: ResourceRef, kv: KeyValue): Record<string, unknown> | undefined {
    const reject = (reason: string) => {
      const kept = this.items.has(kv.key);
      this.rejected.set(kv.key, { key: kv.key, modRevision: kv.modRevision, reason, keptPrevious: kept });
      this._rejections++;
      this.log.error({ key: kv.key, modRevision: kv.modRevision, reason, keptPrevious: kept },
        `skipping invalid configuration item ${kv.key}: ${reason}`);
      return undefined;
    };
    let value: unknown;
    try {
      value = JSON.parse(kv.value);
    } catch (err) {
      return reject(`invalid JSON: ${(err as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return reject('value is not a JSON object');
    let obj = value as Record<string, unknown>;
    try {
      obj = decryptFields(ref.resource, obj, this.cipher);
    } catch (err) {
      return reject((err as Error).message);
    }
    // scope: the manager for secrets, the plugin name for plugin_metadata
    const scope = ref.resource === 'secrets' ? ref.manager : ref.resource === 'plugin_metadata' ? ref.id : undefined;
    const r = validateResource(RESOURCE_KINDS[ref.resource], obj, scope);
    if (!r.ok) return reject(r.message);
    if (ref.resource === 'consumers' && obj.username !== ref.id) {
      return reject(`username ${JSON.stringify(obj.username)} does not match the key`);
    }
    return obj;
  }

  private commit(changes: ResourceChange[], revision: number): void {
    if (changes.length > 0) {
      this.listeners.emit(changes, revision);
    }
    if (revision > this._appliedRevision) this._appliedRevision = revision;
  }
}
