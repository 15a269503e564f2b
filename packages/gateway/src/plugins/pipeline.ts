import type { RequestContext } from '../server/request-context';
import { findSecretRefs, type PluginSecrets, type ResolvedPluginConf } from '../config/plugin-secrets';
import { PHASES, type HeaderFilter, type PhaseHandler, type PhaseResult, type AnyPlugin, type PluginResponse, type ResponseHead } from './types';

interface Step {
  plugin: string;
  phase: number;
  priority: number;
  handler: PhaseHandler<unknown>;
  conf: unknown;
  /** From a global rule: consumer plugins never override it (SPEC §6 overrides the route's). */
  global?: boolean;
}

interface FilterStep {
  plugin: string;
  priority: number;
  filter: HeaderFilter<unknown>;
  conf: unknown;
  global?: boolean;
}

/** Priority order, highest first; the name breaks ties so the order never depends on insertion. */
function byPriority(a: { priority: number; plugin: string }, b: { priority: number; plugin: string }): number {
  return b.priority - a.priority || (a.plugin < b.plugin ? -1 : a.plugin > b.plugin ? 1 : 0);
}

/** Runs ahead of every other rewrite step of its chain, so the conf is current before any phase. */
const RESOLVE_PRIORITY = Number.MAX_SAFE_INTEGER;

const resolveStep: PhaseHandler<ResolvedPluginConf> = (h) => h.ensure();

/**
 * The steps of a plugin whose conf has secret references: a resolve step (which answers the
 * 503 when a reference cannot be resolved), then the plugin's handlers reading the holder's
 * current conf. A header filter is skipped while the conf has never been resolved (the 503
 * of the resolve step itself goes through the header filters).
 */
function addResolvedSteps(name: string, plugin: AnyPlugin, holder: ResolvedPluginConf, steps: Step[], filters: FilterStep[]): void {
  steps.push({ plugin: name, phase: 0, priority: RESOLVE_PRIORITY, handler: resolveStep as PhaseHandler<unknown>, conf: holder });
  PHASES.forEach((phase, i) => {
    const handler = plugin.phases[phase] as PhaseHandler<unknown> | undefined;
    if (!handler) return;
    const run: PhaseHandler<ResolvedPluginConf> = (h, ctx) => handler(h.conf, ctx);
    steps.push({ plugin: name, phase: i, priority: plugin.priority, handler: run as PhaseHandler<unknown>, conf: holder });
  });
  const filter = plugin.headerFilter as HeaderFilter<unknown> | undefined;
  if (filter) {
    const run: HeaderFilter<ResolvedPluginConf> = (h, ctx, head) => {
      if (h.conf !== undefined) filter(h.conf, ctx, head);
    };
    filters.push({ plugin: name, priority: plugin.priority, filter: run as HeaderFilter<unknown>, conf: holder });
  }
}

/**
 * A set of plugins compiled into the order they run: by phase, then priority (highest first).
 * Immutable; a route's chain is rebuilt when its (merged) plugins change.
 */
export class PluginChain {
  static readonly EMPTY = new PluginChain([], [], []);

  /** One-slot cache for `withGlobal`: global rules change rarely, requests are many. */
  private globalFor?: PluginChain;
  private combined?: PluginChain;
  /** Chains with a consumer's plugins merged in, per compiled consumer chain (SPEC §6). */
  private withConsumers?: WeakMap<PluginChain, PluginChain>;
  /**
   * Index of the first access-phase step: where an authenticated consumer's plugins are
   * merged in (APISIX merges after the rewrite phase). -1 once merged.
   */
  private readonly accessStart: number;

  private constructor(
    private readonly steps: readonly Step[],
    private readonly filters: readonly FilterStep[],
    readonly names: readonly string[],
    consumerMerged = false,
  ) {
    let i = 0;
    while (i < steps.length && steps[i].phase === 0) i++;
    this.accessStart = consumerMerged ? -1 : i;
  }

  /** A chain that answers `res` to every request (a plugin set that cannot be built fails closed). */
  static refusing(res: PluginResponse): PluginChain {
    return new PluginChain([{ plugin: '(refused)', phase: 0, priority: 0, handler: () => res, conf: undefined }], [], ['(refused)']);
  }

  /**
   * Builds the chain for a `plugins` object. Throws when a plugin has no data-plane
   * implementation (the route must not run without it: fail closed), or when a conf holds
   * secret references and no `secrets` is given to resolve them.
   *
   * A conf with references (SPEC §9) is compiled only once they are resolved: a resolve step
   * runs first in the rewrite phase, and the plugin's handlers read the current compiled conf
   * from its ResolvedPluginConf (plugin-secrets.ts).
   */
  static build(plugins: Record<string, unknown> | undefined, registry: ReadonlyMap<string, AnyPlugin>, secrets?: PluginSecrets, scope = ''): PluginChain {
    if (!plugins) return PluginChain.EMPTY;
    const steps: Step[] = [];
    const filters: FilterStep[] = [];
    const names: string[] = [];
    for (const [name, raw] of Object.entries(plugins)) {
      const rawConf = (raw ?? {}) as Record<string, unknown>;
      if ((rawConf._meta as { disable?: boolean } | undefined)?.disable === true) continue;
      const plugin = registry.get(name);
      if (!plugin) throw new Error(`plugin ${name} has no data-plane implementation`);
      names.push(name);
      const compile = (c: Record<string, unknown>): unknown => (plugin.compile ? plugin.compile(c, scope) : c);
      const holder = secrets?.holder(name, rawConf, compile);
      if (!holder && !secrets && findSecretRefs(rawConf).size > 0) {
        throw new Error(`plugin ${name} has secret references and no secret resolver`);
      }
      if (holder) {
        addResolvedSteps(name, plugin, holder, steps, filters);
        continue;
      }
      const conf = compile(rawConf);
      PHASES.forEach((phase, i) => {
        const handler = plugin.phases[phase];
        if (handler) steps.push({ plugin: name, phase: i, priority: plugin.priority, handler: handler as PhaseHandler<unknown>, conf });
      });
      if (plugin.headerFilter) filters.push({ plugin: name, priority: plugin.priority, filter: plugin.headerFilter as HeaderFilter<unknown>, conf });
    }
    if (names.length === 0) return PluginChain.EMPTY;
    return PluginChain.sorted(steps, filters, names);
  }

  /** Several chains as one (all global rules): every plugin of every chain runs, in priority order. */
  static merge(chains: readonly PluginChain[]): PluginChain {
    const nonEmpty = chains.filter((c) => !c.empty);
    if (nonEmpty.length === 0) return PluginChain.EMPTY;
    if (nonEmpty.length === 1) return nonEmpty[0];
    return PluginChain.sorted(nonEmpty.flatMap((c) => c.steps), nonEmpty.flatMap((c) => c.filters), nonEmpty.flatMap((c) => c.names));
  }

  /**
   * `base` with `top`'s plugins replacing those of the same name (a consumer's plugins over its
   * group's). Both keep their compiled confs, so each one's state (counters) stays shared by
   * everyone using that chain: a group's limit is the group's, not per consumer.
   */
  static overlay(base: PluginChain, top: PluginChain): PluginChain {
    if (base.empty) return top;
    if (top.empty) return base;
    const names = new Set(top.names);
    return PluginChain.sorted(
      [...base.steps.filter((s) => !names.has(s.plugin)), ...top.steps],
      [...base.filters.filter((f) => !names.has(f.plugin)), ...top.filters],
      [...base.names.filter((n) => !names.has(n)), ...top.names],
    );
  }

  private static sorted(steps: Step[], filters: FilterStep[], names: string[]): PluginChain {
    steps.sort((a, b) => a.phase - b.phase || byPriority(a, b));
    filters.sort(byPriority);
    return new PluginChain(steps, filters, names);
  }

  /**
   * This chain preceded by the global rules' chain in each phase (SPEC §6: global rules run
   * before route plugins in each phase). Cached against the global chain's identity, so a
   * global rule change costs one rebuild per route on its next request, not a table walk.
   */
  withGlobal(global: PluginChain): PluginChain {
    if (global.empty) return this;
    if (this.empty) return global;
    if (this.globalFor === global && this.combined) return this.combined;
    const steps: Step[] = [];
    for (let phase = 0; phase < PHASES.length; phase++) {
      for (const s of global.steps) if (s.phase === phase) steps.push({ ...s, global: true });
      for (const s of this.steps) if (s.phase === phase) steps.push(s);
    }
    const combined = new PluginChain(steps, [...global.filters.map((f) => ({ ...f, global: true })), ...this.filters], [...global.names, ...this.names]);
    this.globalFor = global;
    this.combined = combined;
    return combined;
  }

  get empty(): boolean {
    return this.steps.length === 0 && this.filters.length === 0;
  }

  get hasHeaderFilters(): boolean {
    return this.filters.length > 0;
  }

  /**
   * Runs the request phases. Returns the response that stopped the request, or undefined to
   * proxy; a Promise only if some plugin had to wait.
   */
  run(ctx: RequestContext): PluginResponse | undefined | Promise<PluginResponse | undefined> {
    return this.runFrom(0, ctx);
  }

  /** Runs every header filter on the response head, in place. */
  filterResponse(ctx: RequestContext, head: ResponseHead): void {
    for (const f of this.filters) f.filter(f.conf, ctx, head);
  }

  /**
   * This chain with a consumer's (group + consumer) plugins overriding the route's by name
   * (SPEC §6), to run from the end of the rewrite phase: the consumer plugins' own rewrite
   * steps first (APISIX `rewrite_in_consumer`), then the merged access phase. Global-rule
   * steps stay. Cached per compiled consumer chain, so plugin state (limit counters) lives
   * as long as the consumer's and the route's confs do.
   */
  withConsumer(consumer: PluginChain): PluginChain {
    const cached = this.withConsumers?.get(consumer);
    if (cached) return cached;
    const overridden = new Set(consumer.names);
    const keep = (s: { plugin: string; global?: boolean }) => s.global === true || !overridden.has(s.plugin);
    const rewrite = consumer.steps.filter((s) => s.phase === 0);
    const access = [...this.steps.filter((s) => s.phase > 0 && keep(s)), ...consumer.steps.filter((s) => s.phase > 0)];
    access.sort((a, b) => a.phase - b.phase || Number(b.global === true) - Number(a.global === true) || byPriority(a, b));
    const filters = [...this.filters.filter(keep), ...consumer.filters];
    filters.sort((a, b) => Number(b.global === true) - Number(a.global === true) || byPriority(a, b));
    const merged = new PluginChain([...rewrite, ...access], filters, [...this.names.filter((n) => !overridden.has(n)), ...consumer.names], true);
    (this.withConsumers ??= new WeakMap()).set(consumer, merged);
    return merged;
  }

  private runFrom(start: number, ctx: RequestContext): PluginResponse | undefined | Promise<PluginResponse | undefined> {
    const steps = this.steps;
    for (let i = start; i <= steps.length; i++) {
      if (i === this.accessStart && ctx.consumer !== undefined) {
        const consumerChain = ctx.consumers.chainFor(ctx.consumer);
        if (!consumerChain.empty) {
          const merged = this.withConsumer(consumerChain);
          ctx.chain = merged; // header filters of the consumer's plugins run too
          return merged.runFrom(0, ctx);
        }
      }
      if (i === steps.length) break;
      const r = steps[i].handler(steps[i].conf, ctx);
      if (r instanceof Promise) {
        return r.then((res: PhaseResult) => (res ? res : this.runFrom(i + 1, ctx)));
      }
      if (r) return r;
    }
    return undefined;
  }
}
