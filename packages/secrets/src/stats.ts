/**
 * Secret cache counters per manager (`aws`, `env`, ...). Never per secret name or reference:
 * these end up as metrics labels (SPEC §11).
 */
export interface ManagerStats {
  /** answered from the cache without a provider call: fresh values and cached failures */
  hits: number;
  /** resolve() found nothing usable and needed a fetch (joining an in-flight one counts too) */
  misses: number;
  /** provider calls actually started (single-flight: many misses, one fetch) */
  fetches: number;
  /** fetches that failed */
  errors: number;
  /** answers with an expired value because refreshing it failed (stale-if-error) */
  staleServes: number;
}

export class StatsBook {
  private readonly byManager = new Map<string, ManagerStats>();

  for(manager: string): ManagerStats {
    let s = this.byManager.get(manager);
    if (!s) {
      s = { hits: 0, misses: 0, fetches: 0, errors: 0, staleServes: 0 };
      this.byManager.set(manager, s);
    }
    return s;
  }

  snapshot(): Record<string, ManagerStats> {
    const out: Record<string, ManagerStats> = {};
    for (const [m, s] of this.byManager) out[m] = { ...s };
    return out;
  }
}
