import { componentLogger, type Logger } from '@portico/core';
import type { SecretResolver } from '@portico/secrets';
import type { AppliedListener, ConfigSync } from '../../config/config-sync';
import { ListenerSet } from '../../config/listener-set';
import { LimitServer } from './limits';
import type { Channel, SyncStatus, ToPrimary, ToWorker } from './protocol';

export type WorkerLink = Channel<ToWorker, ToPrimary>;

export interface WorkerHubOptions {
  sync: ConfigSync;
  resolver: SecretResolver;
  logger?: Logger;
  /** How often the connection state is compared and, if changed, pushed (default 500 ms). */
  statusPollMs?: number;
}

interface Attached {
  link: WorkerLink;
  unsubscribe: Array<() => void>;
  /** highest revision the worker reports applied; -1 until its first report */
  applied: number;
}

/**
 * The primary's side of `apisix.workers` > 1: the one ConfigSync (one store watch) and the one
 * SecretResolver (one provider call per reference per TTL) of the node, shared with every
 * worker over its IPC channel. A worker says hello, gets every item, then every batch in store
 * order; it asks for secret values and hears when one changes.
 */
export class WorkerHub {
  private readonly sync: ConfigSync;
  private readonly resolver: SecretResolver;
  private readonly log: Logger;
  private readonly workers = new Set<Attached>();
  private readonly stops: Array<() => void> = [];
  private readonly pendingMetrics = new Map<number, (text: string) => void>();
  private readonly appliedListeners: ListenerSet<Parameters<AppliedListener>>;
  private readonly limits = new LimitServer();
  private lastServed = 0;
  private nextId = 1;
  private lastStatus = '';
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: WorkerHubOptions) {
    this.sync = opts.sync;
    this.resolver = opts.resolver;
    this.log = opts.logger ?? componentLogger('workers');
    this.appliedListeners = new ListenerSet((err) => this.log.error({ err: (err as Error)?.message ?? String(err) }, 'served-revision listener failed'));
  }

  /** Call before sync.start(): the primary applies the secrets resources to its resolver. */
  start(): void {
    this.stops.push(this.sync.subscribe((changes) => {
      for (const c of changes) {
        const ref = c.type === 'put' ? c.item.ref : c.ref;
        if (ref.resource === 'secrets') this.resolver.setProvider(ref.manager!, ref.id, c.type === 'put' ? c.item.value : undefined);
      }
    }));
    this.stops.push(this.resolver.onChange((ref) => {
      const msg: ToWorker = { t: 'portico:secret', ref, state: this.resolver.inspect(ref) };
      for (const w of this.workers) safeSend(w.link, msg);
    }));
    // ConfigSync has no event for "connection lost/back" between batches; poll it.
    this.timer = setInterval(() => this.pushStatusIfChanged(), this.opts.statusPollMs ?? 500);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.limits.close();
    for (const s of this.stops.splice(0)) s();
    for (const w of [...this.workers]) this.detach(w);
  }

  /** Serves one worker until the returned function is called (the worker exited). */
  attach(link: WorkerLink): () => void {
    const w: Attached = { link, unsubscribe: [], applied: -1 };
    this.workers.add(w);
    w.unsubscribe.push(link.onMessage((msg) => this.onMessage(w, msg)));
    return () => this.detach(w);
  }

  /**
   * The revision every attached worker serves (the lowest they report), what the node's
   * registry entry must advertise so `wait_revision` means "every process of this node". 0
   * until every worker has reported once.
   */
  get servedRevision(): number {
    let min = Infinity;
    for (const w of this.workers) min = Math.min(min, w.applied);
    return min === Infinity || min < 0 ? 0 : min;
  }

  /** Told when servedRevision moves (configChanged as reported by the worker batch that moved it). */
  onServed(listener: AppliedListener): () => void {
    return this.appliedListeners.add(listener);
  }

  /** Every attached worker's metrics text; a worker that does not answer in time is left out. */
  async collectMetrics(timeoutMs = 1000): Promise<string[]> {
    const asks = [...this.workers].map((w) => new Promise<string | undefined>((resolve) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pendingMetrics.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pendingMetrics.set(id, (text) => {
        clearTimeout(timer);
        this.pendingMetrics.delete(id);
        resolve(text);
      });
      if (!safeSend(w.link, { t: 'portico:metrics-request', id })) this.pendingMetrics.get(id)?.('');
    }));
    return (await Promise.all(asks)).filter((t): t is string => !!t);
  }

  private detach(w: Attached): void {
    if (!this.workers.delete(w)) return;
    for (const u of w.unsubscribe.splice(0)) u();
  }

  private onMessage(w: Attached, msg: ToPrimary): void {
    switch (msg.t) {
      case 'portico:hello': {
        // A hello again (the worker restarted its source) replays everything once more.
        if (w.unsubscribe.length > 1) for (const u of w.unsubscribe.splice(1)) u();
        // subscribe() replays every held item synchronously, so the status after it covers them.
        w.unsubscribe.push(this.sync.subscribe((changes, revision) => {
          safeSend(w.link, { t: 'portico:config', changes, revision });
        }));
        w.unsubscribe.push(this.sync.onApplied((revision, configChanged) => {
          safeSend(w.link, { t: 'portico:status', status: this.status(), applied: { revision, configChanged } });
        }));
        safeSend(w.link, { t: 'portico:status', status: this.status() });
        break;
      }
      case 'portico:secret-request': {
        const { id, ref } = msg;
        // Answer once no fetch is in flight, so a stale value is answered with its refreshed
        // deadlines and the worker does not ask again on every request meanwhile.
        void this.resolver.resolve(ref)
          .then(() => this.resolver.whenSettled(ref))
          .catch(() => undefined)
          .then(() => safeSend(w.link, { t: 'portico:secret-reply', id, state: this.resolver.inspect(ref) }));
        break;
      }
      case 'portico:applied': {
        w.applied = Math.max(w.applied, msg.revision);
        const served = this.servedRevision;
        if (served > this.lastServed) {
          this.lastServed = served;
          this.appliedListeners.emit(served, msg.configChanged);
        }
        break;
      }
      case 'portico:count': {
        const g = this.limits.count(msg.counter, msg.limit, msg.windowMs, msg.group, msg.key, msg.want);
        safeSend(w.link, { t: 'portico:count-reply', id: msg.id, ...g });
        break;
      }
      case 'portico:req':
        safeSend(w.link, { t: 'portico:req-reply', id: msg.id, delay: this.limits.req(msg.counter, msg.rate, msg.burst, msg.key) });
        break;
      case 'portico:metrics-reply':
        this.pendingMetrics.get(msg.id)?.(msg.text);
        break;
      default:
        break;
    }
  }

  private status(): SyncStatus {
    const s = this.sync;
    return { ready: s.ready, revision: s.appliedRevision, connected: s.connected, resets: s.resets, lastError: s.lastError, snapshot: s.snapshot };
  }

  private pushStatusIfChanged(): void {
    const status = this.status();
    const json = JSON.stringify(status);
    if (json === this.lastStatus) return;
    this.lastStatus = json;
    for (const w of this.workers) if (w.unsubscribe.length > 1) safeSend(w.link, { t: 'portico:status', status });
  }
}

/** A worker that is exiting has a closed channel; its exit handler detaches it. */
function safeSend(link: WorkerLink, msg: ToWorker): boolean {
  try {
    link.send(msg);
    return true;
  } catch {
    return false;
  }
}
