import { componentLogger, nodeKey, type ConfigStore, type Lease, type Logger } from '@portico/core';

/**
 * The data plane's entry in the node registry (SPEC §10): `<prefix>/data_plane/nodes/<id>`,
 * attached to a lease so that a node that dies disappears within the TTL. This is the only key
 * a data plane ever writes.
 */

/** What the registry entry holds; `boot_time` and `last_seen` are unix seconds. */
export interface NodeRecord {
  id: string;
  hostname: string;
  version: string;
  boot_time: number;
  /** Store revision the node has applied. */
  config_revision: number;
  last_seen: number;
  /**
   * `host:port` of the node's Prometheus endpoint, from which the control plane gathers the
   * dashboard's traffic figures (absent when the node serves no metrics).
   */
  metrics?: string;
}

export interface HeartbeatOptions {
  store: ConfigStore;
  prefix: string;
  nodeId: string;
  hostname: string;
  version: string;
  /** `host:port` of the metrics listener, reported in the entry. */
  metricsAddress?: string;
  /** The applied revision to report (ConfigSync.appliedRevision). */
  revision: () => number;
  /** Lease TTL (default 30 s, SPEC §10). */
  ttlSeconds?: number;
  /** Rewrite the entry this often even without changes, to refresh `last_seen` (default 10 s). */
  refreshMs?: number;
  /**
   * At most one write per this interval (default 200 ms): a burst of revisions costs one write,
   * while `?wait_revision` still learns of a change within about this long.
   */
  minIntervalMs?: number;
  /** Retry delay after a failed write, doubling up to `refreshMs` (default 500 ms). */
  retryMs?: number;
  logger?: Logger;
}

export class NodeHeartbeat {
  private readonly key: string;
  private readonly ttl: number;
  private readonly refreshMs: number;
  private readonly minIntervalMs: number;
  private readonly retryMs: number;
  private readonly log: Logger;
  private readonly bootTime = Math.floor(Date.now() / 1000);
  private lease?: Lease;
  private timer?: NodeJS.Timeout;
  private dueAt = Infinity;
  private inFlight?: Promise<void>;
  private lastBeatAt = 0;
  private failures = 0;
  private stopped = true;
  /** Revision written by the last successful beat (-1 before any). */
  lastReported = -1;

  constructor(private readonly opts: HeartbeatOptions) {
    this.key = nodeKey(opts.prefix, opts.nodeId);
    this.ttl = opts.ttlSeconds ?? 30;
    this.refreshMs = opts.refreshMs ?? 10_000;
    this.minIntervalMs = opts.minIntervalMs ?? 200;
    this.retryMs = opts.retryMs ?? 500;
    this.log = opts.logger ?? componentLogger('heartbeat');
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** The applied revision changed: report it soon (throttled by minIntervalMs). */
  notify(): void {
    if (this.stopped || this.opts.revision() === this.lastReported) return;
    this.schedule(Math.max(0, this.lastBeatAt + this.minIntervalMs - Date.now()));
  }

  /** Stops beating and revokes the lease, so the entry disappears now rather than at TTL. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    const lease = this.lease;
    this.lease = undefined;
    // Bounded: with the store down, the entry simply expires at TTL.
    if (lease) await withTimeout(lease.revoke(), 1000).catch(() => undefined);
  }

  /** Arms the timer for `delayMs` from now unless an earlier beat is already due. */
  private schedule(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.inFlight) {
      // The beat in flight reads the revision before writing; a later one is armed when it ends.
      this.dueAt = Math.min(this.dueAt, at);
      return;
    }
    if (this.timer && at >= this.dueAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dueAt = Infinity;
      void this.beat();
    }, delayMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    if (this.stopped || this.inFlight) return;
    this.dueAt = Infinity;
    this.inFlight = this.write();
    await this.inFlight;
    this.inFlight = undefined;
    if (this.stopped) return;
    if (this.failures > 0) {
      this.schedule(Math.min(this.refreshMs, this.retryMs * 2 ** Math.min(this.failures - 1, 10)));
    } else if (this.dueAt !== Infinity) {
      // notify() came while we were writing. (Never compare with revision() here: other
      // nodes' heartbeats move it, and reacting to them would loop.)
      this.schedule(Math.max(0, this.lastBeatAt + this.minIntervalMs - Date.now()));
    } else {
      this.schedule(this.refreshMs);
    }
  }

  private async write(): Promise<void> {
    this.lastBeatAt = Date.now();
    const revision = this.opts.revision();
    try {
      if (!this.lease) this.lease = await this.opts.store.grantLease(this.ttl);
      const record: NodeRecord = {
        id: this.opts.nodeId,
        hostname: this.opts.hostname,
        version: this.opts.version,
        boot_time: this.bootTime,
        config_revision: revision,
        last_seen: Math.floor(Date.now() / 1000),
        ...(this.opts.metricsAddress ? { metrics: this.opts.metricsAddress } : {}),
      };
      await this.opts.store.put(this.key, JSON.stringify(record), { leaseId: this.lease.id });
      this.lastReported = revision;
      if (this.failures > 0) this.log.info({ key: this.key, revision }, 'node heartbeat written again');
      this.failures = 0;
    } catch (err) {
      this.failures++;
      const message = (err as Error).message;
      // A lease that expired while the store was away (or was revoked) cannot be used again:
      // the next beat grants a new one. Any other failure keeps the lease and just retries.
      if (/lease not found/i.test(message)) {
        const stale = this.lease;
        this.lease = undefined;
        stale?.revoke().catch(() => undefined);
      }
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.log.warn({ key: this.key, err: message, failures: this.failures }, 'cannot write the node heartbeat');
      }
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
