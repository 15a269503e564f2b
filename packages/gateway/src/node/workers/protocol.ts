import type { EntryState } from '@portico/secrets';
import type { ResourceChange, SnapshotState } from '../../config/config-sync';

/**
 * Messages between a node's primary (which owns the store watch and the secret cache) and its
 * proxy workers, over the IPC channel node:cluster gives each worker. JSON-serialisable.
 */

/** The primary's ConfigSync state, mirrored by each worker's RemoteConfig. */
export interface SyncStatus {
  ready: boolean;
  revision: number;
  connected: boolean;
  resets: number;
  lastError?: string;
  snapshot?: SnapshotState;
}

export type ToWorker =
  /** One store batch, exactly as ConfigSync delivered it (the first one replays every item). */
  | { t: 'portico:config'; changes: readonly ResourceChange[]; revision: number }
  /** Sent after every applied batch (`applied` set) and when the connection state changes. */
  | { t: 'portico:status'; status: SyncStatus; applied?: { revision: number; configChanged: boolean } }
  /** A reference's new cached state (rotation, provider reconfigured, dropped: state absent). */
  | { t: 'portico:secret'; ref: string; state?: EntryState }
  | { t: 'portico:secret-reply'; id: number; state?: EntryState }
  | { t: 'portico:metrics-request'; id: number }
  | { t: 'portico:count-reply'; id: number; granted: number; remaining: number; resetMs: number }
  | { t: 'portico:req-reply'; id: number; delay: number };

export type ToPrimary =
  /** The worker is listening for configuration: start its feed. */
  | { t: 'portico:hello' }
  /** The worker's listeners are bound (the primary's start-up waits for every worker). */
  | { t: 'portico:listening' }
  /** The worker's tables now hold `revision` (sent after each applied batch). */
  | { t: 'portico:applied'; revision: number; configChanged: boolean }
  | { t: 'portico:secret-request'; id: number; ref: string }
  | { t: 'portico:metrics-reply'; id: number; text: string }
  /** limit-count: take up to `want` from `key`'s quota in the node-wide counter `counter`. */
  | { t: 'portico:count'; id: number; counter: string; limit: number; windowMs: number; group?: string; key: string; want: number }
  /** limit-req: one request for `key` in the node-wide bucket set `counter`. */
  | { t: 'portico:req'; id: number; counter: string; rate: number; burst: number; key: string };

/** One end of a worker's IPC channel (a cluster Worker in the primary, `process` in a worker). */
export interface Channel<Out, In> {
  send(msg: Out): void;
  onMessage(handler: (msg: In) => void): () => void;
}

export function isPorticoMessage(m: unknown): m is { t: string } {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' && (m as { t: string }).t.startsWith('portico:');
}
