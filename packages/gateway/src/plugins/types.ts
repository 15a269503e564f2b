import type { RequestContext } from '../server/request-context';

/** A reply a plugin sends instead of proxying (401, 403, ...). */
export interface PluginResponse {
  status: number;
  /** Serialised as JSON. */
  body?: unknown;
  /** Sent as is instead of `body` (e.g. an empty preflight answer). */
  raw?: string;
  headers?: Record<string, string>;
}

export type PhaseResult = PluginResponse | undefined | void;

/**
 * A phase handler. Return a response to stop the request there; return nothing to go on.
 * Return a Promise only when the plugin really has to wait (the pipeline stays synchronous
 * otherwise).
 */
export type PhaseHandler<C> = (conf: C, ctx: RequestContext) => PhaseResult | Promise<PhaseResult>;

/**
 * The response status line and headers before they are sent (upstream answers and plugin
 * replies alike). Header names are lower-case; a filter may change anything in place.
 */
export interface ResponseHead {
  status: number;
  headers: Record<string, string | string[]>;
}

/** APISIX's header_filter: synchronous, runs just before the response head is written. */
export type HeaderFilter<C> = (conf: C, ctx: RequestContext, head: ResponseHead) => void;

/** Request phases in the order they run (APISIX: rewrite → access; then header_filter). */
export const PHASES = ['rewrite', 'access'] as const;
export type PhaseName = (typeof PHASES)[number];

/**
 * A data-plane plugin. Its schema lives in core's PLUGIN_DEFINITIONS
 * (shared with the admin API); `priority` comes from there too.
 */
/**
 * A plugin whatever its compiled conf type, as registries hold them: each entry's type differs,
 * and a phase handler taking a KeyAuthConf is no handler of `unknown`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type AnyPlugin = Plugin<any>;

export interface Plugin<C = unknown> {
  name: string;
  priority: number;
  /**
   * Turns a validated route-level conf into the form the phases use (defaults applied). Once
   * per route. `scope` names the owner of the conf (`route:<id>`, `global_rule:<id>`,
   * `consumer:<name>`, `group_id:<id>`), the same in every worker of a node, so state
   * that must be node-wide (limit counters) can be keyed by it.
   */
  compile?(conf: Record<string, unknown>, scope: string): C;
  phases: Partial<Record<PhaseName, PhaseHandler<C>>>;
  /**
   * The compiled conf holds no state of its own (no counters), so routes with identical plugin
   * sets may share one compiled chain (10k routes with `{"key-auth": {}}` hold one chain).
   * Leave unset for plugins that count per route (limit-count, limit-req).
   */
  shareable?: boolean;
  headerFilter?: HeaderFilter<C>;
}
