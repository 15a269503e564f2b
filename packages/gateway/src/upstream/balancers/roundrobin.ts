import type { Target } from '../upstream';
import type { Balancer } from './types';

/**
 * Smooth weighted round robin (nginx's algorithm): every pick adds each node's weight to its
 * current weight, takes the largest, and subtracts the total from it. Weights 5:1:1 give
 * a a b a c a a — spread out, not bunched.
 */
export class RoundRobinBalancer implements Balancer {
  private readonly current: number[];

  constructor(readonly targets: readonly Target[]) {
    this.current = targets.map(() => 0);
  }

  pick(exclude?: ReadonlySet<Target>): Target | undefined {
    let total = 0;
    let best = -1;
    const t = this.targets;
    for (let i = 0; i < t.length; i++) {
      if (exclude?.has(t[i])) continue;
      const w = t[i].node.weight;
      this.current[i] += w;
      total += w;
      if (best < 0 || this.current[i] > this.current[best]) best = i;
    }
    if (best < 0) return undefined;
    this.current[best] -= total;
    return t[best];
  }
}
