import { componentLogger, type Logger } from '@portico/core';
import { ListenerSet } from '../../config/listener-set';
import type { AppliedListener, ChangeListener, ResourceChange, ResourceItem, SnapshotState } from '../../config/config-sync';
import type { ConfigSource } from '../../config/config-source';
import type { Channel, SyncStatus, ToPrimary, ToWorker } from './protocol';

/**
 * A worker's configuration source: the batches the primary's ConfigSync applies, relayed
 * over IPC, so a node keeps one store watch however many workers it runs. Batches arrive in
 * store order on one channel; each is handed to the listeners whole, as ConfigSync does.
 */
export class RemoteConfig implements ConfigSource {
  private readonly items = new Map<string, ResourceItem>();
  private readonly listeners: ListenerSet<Parameters<ChangeListener>>;
  private readonly appliedListeners: ListenerSet<Parameters<AppliedListener>>;
  private readyWaiters: Array<() => void> = [];
  private status: SyncStatus = { ready: false, revision: 0, connected: false, resets: 0 };
  private revision = 0;
  private configured = false;
  private detach?: () => void;

  constructor(private readonly channel: Channel<ToPrimary, ToWorker>, logger: Logger = componentLogger('remote-config')) {
    this.listeners = new ListenerSet((err) => logger.error({ err: (err as Error)?.message ?? String(err) }, 'configuration listener failed'));
    this.appliedListeners = new ListenerSet((err) => logger.error({ err: (err as Error)?.message ?? String(err) }, 'applied-revision listener failed'));
  }

  get ready(): boolean {
    return this.status.ready && this.configured;
  }

  get appliedRevision(): number {
    return this.revision;
  }

  get connected(): boolean {
    return this.status.connected;
  }

  /** Watch resets happen in the primary, which reports them in the node's metrics. */
  get resets(): number {
    return 0;
  }

  get lastError(): string | undefined {
    return this.status.lastError;
  }

  get snapshot(): SnapshotState | undefined {
    return this.status.snapshot;
  }

  subscribe(listener: ChangeListener): () => void {
    if (this.items.size > 0) listener([...this.items.values()].map((item) => ({ type: 'put' as const, item })), this.revision);
    return this.listeners.add(listener);
  }

  onApplied(listener: AppliedListener): () => void {
    return this.appliedListeners.add(listener);
  }

  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  start(): void {
    if (this.detach) return;
    this.detach = this.channel.onMessage((msg) => this.onMessage(msg));
    this.channel.send({ t: 'portico:hello' });
  }

  async stop(): Promise<void> {
    this.detach?.();
    this.detach = undefined;
  }

  private onMessage(msg: ToWorker): void {
    if (msg.t === 'portico:config') {
      this.applyBatch(msg.changes, msg.revision);
    } else if (msg.t === 'portico:status') {
      this.status = msg.status;
      // A snapshot-seeded or empty store still counts as configured once the primary is ready.
      if (msg.status.ready) this.configured = true;
      if (msg.applied) {
        this.revision = Math.max(this.revision, msg.applied.revision);
        this.appliedListeners.emit(msg.applied.revision, msg.applied.configChanged);
        // The batch is in this worker's tables (listeners are synchronous): tell the primary,
        // whose registry entry reports the revision every worker serves.
        this.channel.send({ t: 'portico:applied', revision: this.revision, configChanged: msg.applied.configChanged });
      }
      this.checkReady();
    }
  }

  private applyBatch(changes: readonly ResourceChange[], revision: number): void {
    for (const c of changes) {
      if (c.type === 'put') this.items.set(c.item.key, c.item);
      else this.items.delete(c.key);
    }
    this.revision = Math.max(this.revision, revision);
    this.listeners.emit(changes, revision);
  }

  private checkReady(): void {
    if (!this.ready) return;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }
}
