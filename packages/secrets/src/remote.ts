import { parseSecretRef } from './reference';
import { peekState, type ChangeListener, type EntryState, type PeekResult, type SecretCache } from './resolver';
import type { ManagerStats } from './stats';

/** How a worker reaches the process that owns the secret cache. */
export interface SecretChannel {
  /**
   * Asks the owner to resolve `ref` (from its cache, or with one provider call shared by every
   * worker) and answers the owner's cached state once no fetch of it is in flight;
   * undefined when the owner holds nothing for it (malformed reference).
   */
  resolve(ref: string): Promise<EntryState | undefined>;
}

/**
 * The secret cache as seen from a proxy worker (`apisix.workers` > 1): a mirror of the
 * primary's SecretResolver. The primary makes every provider call, so a node asks AWS once
 * per reference per TTL however many workers it runs; the worker answers peek() from its
 * mirror (the hot path stays in-process), asks the primary over the channel when its mirror
 * is missing or stale, and hears changes the primary pushes (apply()).
 */
export class RemoteSecretResolver implements SecretCache {
  private readonly mirror = new Map<string, EntryState>();
  private readonly asking = new Map<string, Promise<string | undefined>>();
  private readonly changeListeners = new Set<ChangeListener>();
  private readonly negTtlMs: number;
  private readonly nowFn: () => number;

  constructor(private readonly channel: SecretChannel, opts: { negTtlSeconds: number; now?: () => number }) {
    this.negTtlMs = opts.negTtlSeconds * 1000;
    this.nowFn = opts.now ?? Date.now;
  }

  /** Provider confs are the primary's business: it applies the secrets resources. */
  setProvider(): void {}

  peek(raw: string): PeekResult {
    const e = this.mirror.get(raw);
    if (!e) return { state: parseSecretRef(raw) ? 'missing' : 'failed' };
    return peekState(e, this.nowFn());
  }

  inspect(raw: string): EntryState | undefined {
    return this.mirror.get(raw);
  }

  async whenSettled(raw: string): Promise<void> {
    await this.asking.get(raw);
  }

  clock(): number {
    return this.nowFn();
  }

  get size(): number {
    return this.mirror.size;
  }

  resolve(raw: string): Promise<string | undefined> {
    const p = this.peek(raw);
    if (p.state === 'fresh') return Promise.resolve(p.value);
    if (p.state === 'stale') {
      // stale-while-revalidate, as in the primary: answer now, refresh in the background
      if (this.mayAsk(raw)) void this.ask(raw);
      return Promise.resolve(p.value);
    }
    return this.mayAsk(raw) ? this.ask(raw) : Promise.resolve(undefined);
  }

  refreshIfStale(raw: string): void {
    if (this.peek(raw).state !== 'fresh' && this.mayAsk(raw)) void this.ask(raw);
  }
  onChange(listener: ChangeListener): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Provider call counters live in the primary, which reports them. */
  stats(): Record<string, ManagerStats> {
    return {};
  }

  close(): void {
    this.mirror.clear();
  }

  /**
   * A state pushed by the primary (a rotation, a provider reconfigured, a value expired past
   * resurrect_ttl); undefined: the primary dropped the reference.
   */
  apply(raw: string, state: EntryState | undefined): void {
    const before = this.mirror.get(raw);
    if (state) this.mirror.set(raw, state);
    else this.mirror.delete(raw);
    if (before?.value !== state?.value || before?.previous !== state?.previous) this.notify(raw);
  }

  /** False for a malformed reference and while a failure is remembered (neg_ttl). */
  private mayAsk(raw: string): boolean {
    const e = this.mirror.get(raw);
    if (e && this.nowFn() < e.failedUntil) return false;
    return parseSecretRef(raw) !== undefined;
  }

  /** One question per reference at a time, however many requests want it. */
  private ask(raw: string): Promise<string | undefined> {
    const pending = this.asking.get(raw);
    if (pending) return pending;
    const p = this.channel.resolve(raw).then(
      (state) => {
        // Nothing held by the primary: remember the failure for neg_ttl rather than asking per request.
        this.apply(raw, state ?? { previousUntil: 0, freshUntil: 0, staleUntil: 0, failedUntil: this.nowFn() + this.negTtlMs });
        return this.peek(raw).value;
      },
      () => {
        // The channel is down (primary gone or restarting): keep whatever the mirror has and
        // do not ask again before neg_ttl, as the primary would after a failed fetch.
        const kept = this.mirror.get(raw);
        const failedUntil = this.nowFn() + this.negTtlMs;
        this.mirror.set(raw, kept ? { ...kept, failedUntil } : { previousUntil: 0, freshUntil: 0, staleUntil: 0, failedUntil });
        return this.peek(raw).value;
      },
    ).finally(() => this.asking.delete(raw));
    this.asking.set(raw, p);
    return p;
  }

  private notify(raw: string): void {
    for (const listener of this.changeListeners) {
      try {
        listener(raw);
      } catch {
        // a listener's failure must not stop the others; the tables log their own errors
      }
    }
  }
}
