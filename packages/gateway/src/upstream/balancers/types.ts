import type { RequestContext } from '../../server/request-context';
import type { Target } from '../upstream';

/**
 * Picks targets within one priority group of an upstream. `exclude` holds the nodes this
 * request already tried (retries go elsewhere). `ctx` is absent only in unit tests of
 * balancers that do not need it.
 */
export interface Balancer {
  readonly targets: readonly Target[];
  pick(exclude: ReadonlySet<Target> | undefined, ctx: RequestContext | undefined): Target | undefined;
  /** A request picked from this balancer finished (least_conn counts open requests). */
  release?(t: Target): void;
  /** A response from `t` arrived `latencyMs` after the request was sent (ewma learns from it). */
  observe?(t: Target, latencyMs: number): void;
}
