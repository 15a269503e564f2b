import type { RequestContext } from '../context';
import { PHASES, type PhaseHandler, type PhaseResult, type Plugin, type PluginResponse } from './types';

interface Step {
  plugin: string;
  handler: PhaseHandler<unknown>;
  conf: unknown;
}

/** A route's plugins compiled into the order they run: by phase, then priority (highest first). */
export class PluginChain {
  static readonly EMPTY = new PluginChain([], []);

  private constructor(private readonly steps: readonly Step[], readonly names: readonly string[]) {}

  /**
   * Builds the chain for a `plugins` object. Throws when a plugin has no data-plane
   * implementation (the route must not run without it: fail closed).
   */
  static build(plugins: Record<string, unknown> | undefined, registry: ReadonlyMap<string, Plugin<any>>): PluginChain {
    if (!plugins) return PluginChain.EMPTY;
    const enabled: Array<{ plugin: Plugin<any>; conf: unknown }> = [];
    for (const [name, raw] of Object.entries(plugins)) {
      const rawConf = (raw ?? {}) as Record<string, unknown>;
      if ((rawConf._meta as { disable?: boolean } | undefined)?.disable === true) continue;
      const plugin = registry.get(name);
      if (!plugin) throw new Error(`plugin ${name} has no data-plane implementation`);
      enabled.push({ plugin, conf: plugin.compile ? plugin.compile(rawConf) : rawConf });
    }
    if (enabled.length === 0) return PluginChain.EMPTY;
    enabled.sort((a, b) => b.plugin.priority - a.plugin.priority || (a.plugin.name < b.plugin.name ? -1 : 1));
    const steps: Step[] = [];
    for (const phase of PHASES) {
      for (const { plugin, conf } of enabled) {
        const handler = plugin.phases[phase];
        if (handler) steps.push({ plugin: plugin.name, handler: handler as PhaseHandler<unknown>, conf });
      }
    }
    return new PluginChain(steps, enabled.map((e) => e.plugin.name));
  }

  get empty(): boolean {
    return this.steps.length === 0;
  }

  /**
   * Runs the request phases. Returns the response that stopped the request, or undefined to
   * proxy; a Promise only if some plugin had to wait.
   */
  run(ctx: RequestContext): PluginResponse | undefined | Promise<PluginResponse | undefined> {
    return this.runFrom(0, ctx);
  }

  private runFrom(start: number, ctx: RequestContext): PluginResponse | undefined | Promise<PluginResponse | undefined> {
    const steps = this.steps;
    for (let i = start; i < steps.length; i++) {
      const r = steps[i].handler(steps[i].conf, ctx);
      if (r instanceof Promise) {
        return r.then((res: PhaseResult) => (res ? res : this.runFrom(i + 1, ctx)));
      }
      if (r) return r;
    }
    return undefined;
  }
}
