import type { Target } from '../upstream';
import type { Balancer } from './types';

/**
 * least_conn: the node with the fewest requests in flight relative to its weight
 * ((active + 1) / weight, APISIX's score), counted per upstream on this node. Ties go to the
 * node listed first after the previous winner, so equal nodes still share an idle load.
 */
export class LeastConnBalancer implements Balancer {
  private readonly active: number[];
  private readonly index = new Map<Target, number>();
  private last = -1;

  constructor(readonly targets: readonly Target[]) {
    this.active = targets.map(() => 0);
    targets.forEach((t, i) => this.index.set(t, i));
  }

  pick(exclude?: ReadonlySet<Target>): Target | undefined {
    const n = this.targets.length;
    let best = -1;
    let bestScore = Infinity;
    for (let k = 1; k <= n; k++) {
      const i = (this.last + k) % n;
      const t = this.targets[i];
      if (exclude?.has(t)) continue;
      const score = (this.active[i] + 1) / t.node.weight;
      if (score < bestScore) {
        best = i;
        bestScore = score;
      }
    }
    if (best < 0) return undefined;
    this.last = best;
    this.active[best]++;
    return this.targets[best];
  }

  release(t: Target): void {
    const i = this.index.get(t);
    if (i !== undefined && this.active[i] > 0) this.active[i]--;
  }

  /** Requests in flight per target (tests, control API). */
  inFlight(t: Target): number {
    return this.active[this.index.get(t) ?? -1] ?? 0;
  }
}
