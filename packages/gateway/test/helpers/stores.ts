import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  EmbeddedStore,
  StoreUnavailableError,
  type ConfigStore,
  type DeleteOptions,
  type PutOptions,
  type WatchCallbacks,
  type WatchHandle,
} from '@portico/core';

/** A real EmbeddedStore in a fresh temp directory; `cleanup()` closes it and removes the directory. */
export async function tempEmbeddedStore(): Promise<{ store: EmbeddedStore; cleanup: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-gw-'));
  const store = await EmbeddedStore.open(dir);
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Wraps a real store so a test can make it fail the way a remote store fails: `outage()`
 * kills the live watch (its consumer gets onReset, as after a lost stream) and makes every call
 * throw StoreUnavailableError until `restore()`. `beforeWatch` runs between a consumer's range
 * and its watch (to land writes and a compaction in that gap). Data lives in the inner store,
 * which the test keeps writing to directly.
 */
export class FlakyStore implements ConfigStore {
  readonly kind = 'embedded' as const;
  down = false;
  rangeCalls = 0;
  watchCalls = 0;
  beforeWatch?: () => Promise<void>;
  private live?: { handle: WatchHandle; callbacks: WatchCallbacks };

  constructor(readonly inner: ConfigStore) {}

  outage(reason = 'connection lost'): void {
    this.down = true;
    this.breakWatch(reason);
  }

  restore(): void {
    this.down = false;
  }

  /** The live watch dies and its consumer hears onReset (the store stays up). */
  breakWatch(reason = 'stream reset'): void {
    const live = this.live;
    this.live = undefined;
    if (!live) return;
    void live.handle.cancel();
    setImmediate(() => live.callbacks.onReset(new Error(reason)));
  }

  private check(): void {
    if (this.down) throw new StoreUnavailableError('store unreachable (test outage)');
  }

  async range(prefix: string) {
    this.rangeCalls++;
    this.check();
    return this.inner.range(prefix);
  }

  async get(key: string) {
    this.check();
    return this.inner.get(key);
  }

  async put(key: string, value: string, opts?: PutOptions) {
    this.check();
    return this.inner.put(key, value, opts);
  }

  async delete(key: string, opts?: DeleteOptions) {
    this.check();
    return this.inner.delete(key, opts);
  }

  async watch(prefix: string, fromRevision: number, callbacks: WatchCallbacks): Promise<WatchHandle> {
    this.watchCalls++;
    this.check();
    if (this.beforeWatch) {
      const hook = this.beforeWatch;
      this.beforeWatch = undefined;
      await hook();
    }
    const handle = await this.inner.watch(prefix, fromRevision, callbacks);
    this.live = { handle, callbacks };
    return handle;
  }

  async grantLease(ttlSeconds: number) {
    this.check();
    return this.inner.grantLease(ttlSeconds);
  }

  async close(): Promise<void> {
    // the inner store belongs to the test
  }
}
