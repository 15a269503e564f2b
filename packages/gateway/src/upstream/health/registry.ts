import type { HealthChecker, HealthView } from './checker';

/**
 * The running health checkers of one gateway, for `GET /v1/healthcheck` and as a safety net
 * in stop(). Upstream runtimes are built by the tables with only the gateway's PoolManager in
 * hand, so the registry is found through it (one PoolManager per gateway): no new constructor
 * argument has to be threaded through every place that builds an upstream.
 */
export class HealthRegistry {
  private readonly checkers = new Set<HealthChecker>();

  add(c: HealthChecker): void {
    this.checkers.add(c);
  }

  remove(c: HealthChecker): void {
    this.checkers.delete(c);
  }

  get size(): number {
    return this.checkers.size;
  }

  views(): HealthView[] {
    return [...this.checkers].map((c) => c.view()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Stops every checker (gateway stop: no timer may outlive it). */
  stopAll(): void {
    for (const c of this.checkers) c.stop();
    this.checkers.clear();
  }
}

const registries = new WeakMap<object, HealthRegistry>();

/** The registry of the gateway that owns `owner` (its PoolManager). */
export function healthRegistryFor(owner: object): HealthRegistry {
  let r = registries.get(owner);
  if (!r) registries.set(owner, (r = new HealthRegistry()));
  return r;
}
