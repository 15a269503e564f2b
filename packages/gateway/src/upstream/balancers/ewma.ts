import type { Target } from '../upstream';
import type { Balancer } from './types';

/** Seconds for an old latency to lose 1/e of its weight (APISIX's DECAY_TIME). */
const DECAY_S = 10;
/** Candidates drawn per pick ("power of two choices", APISIX's PICK_SET_SIZE). */
const PICK_SET_SIZE = 2;

export interface EwmaOptions {
  /** Clock in ms (tests). */
  now?: () => number;
  /** Uniform [0, 1) (tests). */
  random?: () => number;
}

/**
 * ewma (APISIX `balancer/ewma.lua`): each node keeps an exponentially weighted moving average
 * of its response latency. A pick draws two candidates at random among the nodes not yet
 * tried (all of them when there are two or fewer) and takes the one with the lower average.
 * The average decays toward 0 with time since the node was last measured, so a node that was
 * slow once is tried again later instead of being starved forever; a node never measured
 * scores 0 and is tried first. Weights are not used, as in APISIX.
 */
export class EwmaBalancer implements Balancer {
  private readonly ewma: Float64Array;
  private readonly touched: Float64Array;
  private readonly index = new Map<Target, number>();
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(readonly targets: readonly Target[], opts: EwmaOptions = {}) {
    this.ewma = new Float64Array(targets.length);
    this.touched = new Float64Array(targets.length);
    targets.forEach((t, i) => this.index.set(t, i));
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  pick(exclude?: ReadonlySet<Target>): Target | undefined {
    const candidates: number[] = [];
    for (let i = 0; i < this.targets.length; i++) if (!exclude?.has(this.targets[i])) candidates.push(i);
    if (candidates.length === 0) return undefined;
    if (candidates.length === 1) return this.targets[candidates[0]];
    // Partial Fisher–Yates: the first PICK_SET_SIZE entries become a uniform random sample.
    const k = Math.min(PICK_SET_SIZE, candidates.length);
    for (let j = 0; j < k; j++) {
      const r = j + Math.floor(this.random() * (candidates.length - j));
      [candidates[j], candidates[r]] = [candidates[r], candidates[j]];
    }
    const now = this.now();
    let best = candidates[0];
    let bestScore = this.score(best, now);
    for (let j = 1; j < k; j++) {
      const s = this.score(candidates[j], now);
      if (s < bestScore) {
        best = candidates[j];
        bestScore = s;
      }
    }
    return this.targets[best];
  }

  /** A response from `t` took `latencyMs` (time to the response head). */
  observe(t: Target, latencyMs: number): void {
    const i = this.index.get(t);
    if (i === undefined || !(latencyMs >= 0)) return; // NaN: not measured
    const now = this.now();
    const w = this.decayWeight(i, now);
    this.ewma[i] = this.ewma[i] * w + latencyMs * (1 - w);
    this.touched[i] = now;
  }

  /** The current (decayed) average of a target, ms (tests, control API). */
  latency(t: Target): number {
    const i = this.index.get(t);
    return i === undefined ? 0 : this.score(i, this.now());
  }

  private score(i: number, now: number): number {
    return this.ewma[i] * this.decayWeight(i, now);
  }

  /** Weight the old average keeps: exp(-Δt / decay); a first measurement replaces it fully. */
  private decayWeight(i: number, now: number): number {
    if (this.touched[i] === 0) return 0;
    return Math.exp(-Math.max(0, now - this.touched[i]) / 1000 / DECAY_S);
  }
}
