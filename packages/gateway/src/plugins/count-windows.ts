import type { CountResult } from './limit-backend';

/**
 * The local policy's counters for limit-count: fixed windows per key in this process, and the
 * windows shared by the routes of one `group`. Kept apart from the plugin so the limit backends
 * (in-process, or a node's primary for its workers) use them without importing the plugin.
 */
interface Window {
  used: number;
  /** ms epoch when this window ends and the quota is whole again */
  resetAt: number;
}

/**
 * Fixed windows per key, like resty.limit.count behind APISIX's `local` policy: a key's window
 * starts at its first request. Expired windows are swept when the map has grown by its own
 * size since the last sweep, so memory follows the number of active keys, not of all keys seen.
 */
export class CountWindows {
  private sweepAt = 1024;

  /**
   * `windows` is shared by the confs of one `group` (their counters are one); by default each
   * instance has its own.
   */
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly windows: Map<string, Window> = new Map(),
  ) {}

  /** Takes one from the key's quota. `remaining` < 0 means the request is over the limit. */
  take(key: string): CountResult {
    const g = this.grant(key, 1);
    return { remaining: g.granted === 1 ? g.remaining : -1, resetMs: g.resetMs };
  }

  /**
   * Takes up to `want` from the key's quota at once (a worker's lease, see workers/limits.ts):
   * how many were granted and what is left after them.
   */
  grant(key: string, want: number): { granted: number; remaining: number; resetMs: number } {
    const now = this.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size >= this.sweepAt) this.sweep(now);
      w = { used: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    const granted = Math.max(0, Math.min(want, this.limit - w.used));
    w.used += granted;
    return { granted, remaining: this.limit - w.used, resetMs: w.resetAt - now };
  }

  get size(): number {
    return this.windows.size;
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
    this.sweepAt = Math.max(1024, this.windows.size * 2);
  }
}

/**
 * The counters of each `group` in this process (one node): held weakly, so a group's counters
 * live while some compiled conf of the group does — across rebuilds of its routes, as
 * APISIX's `group:key` counters do — and go when the last route of the group is gone.
 */
const groups = new Map<string, WeakRef<Map<string, Window>>>();

export function groupWindows(group: string): Map<string, Window> {
  let windows = groups.get(group)?.deref();
  if (!windows) {
    // Amortised sweep of groups whose confs were all dropped.
    if (groups.size >= 64 && (groups.size & (groups.size - 1)) === 0) {
      for (const [g, ref] of groups) if (!ref.deref()) groups.delete(g);
    }
    windows = new Map();
    groups.set(group, new WeakRef(windows));
  }
  return windows;
}
