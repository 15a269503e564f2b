import { PluginChain, type AnyPlugin } from '../plugins';
import { findSecretRefs, type PluginSecrets } from './plugin-secrets';
import type { UpstreamConf, UpstreamRuntime } from '../upstream/upstream';

/**
 * Large route tables repeat themselves: 10k routes with `{"key-auth": {}}` and the same inline
 * upstream. These share what is the same, so memory follows the distinct confs, not the
 * routes (with 10k such routes, sharing took 13 MB off the live heap). Only what holds no
 * per-route state is shared.
 */

/**
 * Compiled plugin chains shared by routes with identical plugin sets, when every plugin is
 * `shareable` and no conf has secret references (those hold resolved values per conf).
 * Held weakly: a chain goes when no route uses it.
 */
export class SharedChains {
  private readonly chains = new Map<string, WeakRef<PluginChain>>();
  private sweepAt = 1024;

  constructor(private readonly registry: ReadonlyMap<string, AnyPlugin>, private readonly secrets?: PluginSecrets) {}

  /** The chain for a merged `plugins` object; `scope` names the owner for plugins with state. */
  chainFor(plugins: Record<string, unknown> | undefined, scope: string): PluginChain {
    if (!plugins || !this.shareable(plugins)) return PluginChain.build(plugins, this.registry, this.secrets, scope);
    const json = JSON.stringify(plugins);
    const hit = this.chains.get(json)?.deref();
    if (hit) return hit;
    const chain = PluginChain.build(plugins, this.registry, this.secrets, scope);
    if (this.chains.size >= this.sweepAt) {
      for (const [k, ref] of this.chains) if (!ref.deref()) this.chains.delete(k);
      this.sweepAt = Math.max(1024, this.chains.size * 2);
    }
    this.chains.set(json, new WeakRef(chain));
    return chain;
  }

  private shareable(plugins: Record<string, unknown>): boolean {
    for (const [name, conf] of Object.entries(plugins)) {
      if (!this.registry.get(name)?.shareable) return false;
      if (findSecretRefs(conf).size > 0) return false;
    }
    return true;
  }
}

/**
 * Inline upstreams shared by routes with identical confs, when the conf has no health checks
 * (a checker is per upstream, named after its owner in `/v1/healthcheck`). Reference-counted:
 * disposed when the last route lets go.
 */
export class InlineUpstreams {
  private readonly shared = new Map<string, { runtime: UpstreamRuntime; refs: number }>();
  private readonly jsonOf = new WeakMap<UpstreamRuntime, string>();

  constructor(private readonly build: (ownerKey: string, conf: UpstreamConf) => UpstreamRuntime) {}

  acquire(ownerKey: string, conf: UpstreamConf): UpstreamRuntime {
    if ((conf as { checks?: unknown }).checks) return this.build(ownerKey, conf);
    const json = JSON.stringify(conf);
    let entry = this.shared.get(json);
    if (!entry) {
      entry = { runtime: this.build(ownerKey, conf), refs: 0 };
      this.shared.set(json, entry);
      this.jsonOf.set(entry.runtime, json);
    }
    entry.refs++;
    return entry.runtime;
  }

  release(runtime: UpstreamRuntime): void {
    const json = this.jsonOf.get(runtime);
    const entry = json !== undefined ? this.shared.get(json) : undefined;
    if (!entry || entry.runtime !== runtime) {
      runtime.dispose();
      return;
    }
    if (--entry.refs > 0) return;
    this.shared.delete(json!);
    runtime.dispose();
  }

  /** Distinct shared runtimes (tests). */
  get size(): number {
    return this.shared.size;
  }
}
