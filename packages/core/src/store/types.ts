/**
 * The storage seam between the admin API (writer) and data-plane nodes (readers).
 * Two implementations pass one contract suite: EtcdStore (cluster) and EmbeddedStore
 * (single process, durable under data/). Values are raw strings (JSON text) so that a
 * reader can reject an unparseable item without the store having an opinion about it.
 */

export interface KeyValue {
  key: string;
  value: string;
  /** Store revision at which the key was created (APISIX `createdIndex`). */
  createRevision: number;
  /** Store revision of the last change to the key (APISIX `modifiedIndex`). */
  modRevision: number;
}

export interface RangeResult {
  /** Store revision the snapshot was read at; watch from `revision + 1` to continue. */
  revision: number;
  /** Items sorted by key. */
  items: KeyValue[];
}

export interface PutOptions {
  /**
   * Compare-and-swap: write only if the key's current modRevision equals this value.
   * 0 means "only if the key does not exist". Mismatch throws CompareFailedError.
   */
  ifModRevision?: number;
  /** Attach the key to a lease (heartbeats). */
  leaseId?: string;
}

export interface PutResult {
  revision: number;
  /** The value that was replaced, if any. */
  prev?: KeyValue;
}

export interface DeleteOptions {
  /** Compare-and-swap on the key's modRevision; mismatch throws CompareFailedError. */
  ifModRevision?: number;
  /**
   * Also delete every key under `key + '/'` in the same transaction (a consumer and its
   * credentials). Never deletes siblings that merely share a prefix (`/consumers/johnny`).
   */
  withChildren?: boolean;
}

export interface DeleteResult {
  revision: number;
  /** Number of keys deleted (0 when the key did not exist). */
  deleted: number;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue }
  | { type: 'delete'; key: string; modRevision: number };

export interface WatchHandle {
  /** Stop delivering events; resolves once the underlying stream is closed. */
  cancel(): Promise<void>;
}

export interface WatchCallbacks {
  /**
   * A batch of events, in revision order. `revision` is the highest revision covered by the
   * batch: a consumer that has applied the batch has applied the store up to `revision`.
   */
  onEvents(events: WatchEvent[], revision: number): void;
  /**
   * The stream cannot continue (history compacted, connection lost, store restarted).
   * The watch is dead after this call; the caller must re-range and watch again.
   */
  onReset(reason: Error): void;
}

export interface Lease {
  id: string;
  /** Stop keep-alives and revoke the lease (its keys disappear). */
  revoke(): Promise<void>;
}

export interface ConfigStore {
  readonly kind: 'etcd' | 'embedded';
  /** All keys starting with `prefix`, with the revision the read was made at. */
  range(prefix: string): Promise<RangeResult>;
  get(key: string): Promise<KeyValue | undefined>;
  put(key: string, value: string, opts?: PutOptions): Promise<PutResult>;
  delete(key: string, opts?: DeleteOptions): Promise<DeleteResult>;
  /**
   * Watch every key starting with `prefix` from `fromRevision` (inclusive). Resolves once
   * the watch is established. If `fromRevision` is older than retained history, onReset
   * fires (asynchronously) instead of any event.
   */
  watch(prefix: string, fromRevision: number, callbacks: WatchCallbacks): Promise<WatchHandle>;
  /** A lease kept alive by the store client until revoked or the store is closed. */
  grantLease(ttlSeconds: number): Promise<Lease>;
  /** Release connections, cancel watches and leases, release locks. Idempotent. */
  close(): Promise<void>;
}
