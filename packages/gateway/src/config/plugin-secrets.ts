import { componentLogger, type Logger } from '@portico/core';
import { isSecretRef, type SecretCache } from '@portico/secrets';
import type { PluginResponse } from '../plugins/types';

/** What plugin confs need from the per-node secret cache (SPEC §9). */
export type PluginSecretSource = Pick<SecretCache, 'peek' | 'resolve' | 'refreshIfStale' | 'onChange'>;

/** Every `$secret://` / `$env://` string anywhere in a plugin conf (whole-string values, as APISIX). */
export function findSecretRefs(conf: unknown, out: Set<string> = new Set()): Set<string> {
  if (typeof conf === 'string') {
    if (isSecretRef(conf)) out.add(conf);
  } else if (Array.isArray(conf)) {
    for (const v of conf) findSecretRefs(v, out);
  } else if (conf !== null && typeof conf === 'object') {
    for (const v of Object.values(conf)) findSecretRefs(v, out);
  }
  return out;
}

/** A copy of `conf` with each reference replaced by its value; parts without references are shared. */
function substitute(conf: unknown, values: ReadonlyMap<string, string>): unknown {
  if (typeof conf === 'string') return values.get(conf) ?? conf;
  if (Array.isArray(conf)) return conf.map((v) => substitute(v, values));
  if (conf !== null && typeof conf === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(conf)) out[k] = substitute(v, values);
    return out;
  }
  return conf;
}

/**
 * One plugin conf with secret references, resolved lazily through the resolver (which shares
 * one fetch among concurrent callers) and compiled once per set of values. The pipeline calls
 * `ensure()` before the plugin's first phase; the plugin's handlers then read `conf`.
 *
 * Steady state (every reference fresh, values unchanged) is a peek per reference and no
 * allocation of ours: the compiled conf object is reused, so plugin state kept in it (limit
 * counters) lives until a value actually changes. An expired reference is refreshed in the
 * background (stale-while-revalidate); the conf is rebuilt when the resolver reports a change
 * of one of its references, or when a peek shows a value other than the one compiled in.
 */
export class ResolvedPluginConf<C = unknown> {
  /** The compiled conf with values substituted; undefined until first resolved. */
  conf?: C;
  /** Values `conf` was compiled from, in `refs` order. */
  private values: Array<string | undefined>;
  /**
   * Bumped by `invalidate()`; the conf is current while `builtGen === gen` and every peeked
   * value is the compiled one.
   */
  private gen = 0;
  private builtGen = -1;
  private pending?: Promise<PluginResponse | undefined>;
  /** Set while resolution fails, so a failure is logged once per outage, not per request. */
  private failing = false;
  private readonly refusal: PluginResponse;

  constructor(
    readonly plugin: string,
    private readonly raw: Record<string, unknown>,
    readonly refs: readonly string[],
    private readonly compile: (conf: Record<string, unknown>) => C,
    private readonly source: PluginSecretSource,
    private readonly log: Logger,
  ) {
    this.values = refs.map(() => undefined);
    this.refusal = { status: 503, body: { error_msg: `failed to resolve secret reference in plugin ${plugin}` } };
  }

  /** One of the references changed in the cache: rebuild on the next request. */
  invalidate(): void {
    this.gen++;
  }

  /**
   * Makes `conf` current. Returns undefined when it is (synchronously on the fast path), the
   * 503 reply when a reference cannot be resolved (fail closed), or a Promise when it had to
   * wait for the provider.
   */
  ensure(): PluginResponse | undefined | Promise<PluginResponse | undefined> {
    if (this.conf !== undefined && this.builtGen === this.gen && this.cachedValuesCurrent()) return undefined;
    return (this.pending ??= this.rebuild().finally(() => {
      this.pending = undefined;
    }));
  }

  /** True when every reference has a cached value equal to the compiled one; starts TTL refreshes. */
  private cachedValuesCurrent(): boolean {
    const refs = this.refs;
    for (let i = 0; i < refs.length; i++) {
      const p = this.source.peek(refs[i]);
      if (p.value === undefined || p.value !== this.values[i]) return false;
      // Expired: keep serving the cached value while one background refresh runs; a changed
      // value comes back through onChange (or the comparison above).
      if (p.state !== 'fresh') this.source.refreshIfStale(refs[i]);
    }
    return true;
  }

  private async rebuild(): Promise<PluginResponse | undefined> {
    const values = await Promise.all(this.refs.map((r) => this.source.resolve(r)));
    const missing = this.refs.filter((_r, i) => values[i] === undefined);
    if (missing.length > 0) {
      // Never the value: only the reference names (SPEC §9).
      if (!this.failing) {
        this.log.warn({ plugin: this.plugin, refs: missing }, `failed to resolve secret reference in plugin ${this.plugin}; requests are refused`);
      }
      this.failing = true;
      return this.refusal;
    }
    if (this.conf === undefined || values.some((v, i) => v !== this.values[i])) {
      const map = new Map<string, string>();
      this.refs.forEach((r, i) => map.set(r, values[i]!));
      try {
        this.conf = this.compile(substitute(this.raw, map) as Record<string, unknown>);
      } catch {
        // The error message may quote the offending value, so it is not logged.
        if (!this.failing) this.log.warn({ plugin: this.plugin, refs: this.refs }, `plugin ${this.plugin} cannot be built with its resolved secret references; requests are refused`);
        this.failing = true;
        return this.refusal;
      }
      this.values = values;
    }
    if (this.failing) this.log.info({ plugin: this.plugin, refs: this.refs }, `secret references of plugin ${this.plugin} resolve again`);
    this.failing = false;
    // Changes reported while this ran (first resolutions report one too) need no second pass:
    // a value other than the one compiled in is caught by the fast path's comparison.
    this.builtGen = this.gen;
    return undefined;
  }
}

/**
 * Creates ResolvedPluginConfs and tells them when the resolver reports a change of one of
 * their references. Holders are held weakly: a route's chain is dropped when the route is
 * replaced, with no dispose hook, so a strong index would keep every old conf alive.
 */
export class PluginSecrets {
  private readonly byRef = new Map<string, Set<WeakRef<ResolvedPluginConf<unknown>>>>();
  private readonly unsubscribe: () => void;
  private readonly log: Logger;

  constructor(private readonly source: PluginSecretSource, logger?: Logger) {
    this.log = logger ?? componentLogger('plugin-secrets');
    this.unsubscribe = source.onChange((ref) => this.changed(ref));
  }

  /** A holder for `raw` when it has references; undefined when it has none (the common case). */
  holder<C>(plugin: string, raw: Record<string, unknown>, compile: (conf: Record<string, unknown>) => C): ResolvedPluginConf<C> | undefined {
    const refs = findSecretRefs(raw);
    if (refs.size === 0) return undefined;
    const h = new ResolvedPluginConf<C>(plugin, raw, [...refs], compile, this.source, this.log);
    const weak = new WeakRef(h);
    for (const ref of refs) {
      let set = this.byRef.get(ref);
      if (!set) this.byRef.set(ref, (set = new Set()));
      set.add(weak);
      // Amortised sweep of holders whose chains were dropped.
      if ((set.size & (set.size - 1)) === 0) for (const w of set) if (!w.deref()) set.delete(w);
    }
    return h;
  }

  private changed(ref: string): void {
    const set = this.byRef.get(ref);
    if (!set) return;
    for (const w of set) {
      const h = w.deref();
      if (h) h.invalidate();
      else set.delete(w);
    }
    if (set.size === 0) this.byRef.delete(ref);
  }

  close(): void {
    this.unsubscribe();
    this.byRef.clear();
  }
}
