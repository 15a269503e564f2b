import type { AppliedListener, ChangeListener, RejectedItem, SnapshotState } from './config-sync';

/**
 * Where a data plane's configuration comes from: ConfigSync (this process watches the store)
 * or RemoteConfig (a worker fed by the primary that watches it, `apisix.workers` > 1). The
 * gateway, its control API and its metrics only use this surface.
 */
export interface ConfigSource {
  readonly ready: boolean;
  readonly appliedRevision: number;
  readonly connected: boolean;
  readonly resets: number;
  readonly lastError: string | undefined;
  readonly snapshot: SnapshotState | undefined;
  /** Keys whose store value this process refuses (only where it validates: ConfigSync). */
  rejectedItems?(): RejectedItem[];
  /** Store values refused since start. */
  readonly rejections?: number;
  /** First receives every item already held (as puts), then every later batch. */
  subscribe(listener: ChangeListener): () => void;
  onApplied(listener: AppliedListener): () => void;
  whenReady(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}
