import net from 'node:net';
import { addCidr, checkIp, compileExpr, CompiledExpr } from './expr';

/**
 * Route matching (SPEC §6), APISIX's `radixtree_host_uri` order:
 *
 *  1. routes whose `host`/`hosts` match the request host — exact hosts first, then `*.`
 *     wildcards from the longest suffix down — beat every route without hosts;
 *  2. within one host group: an exact path beats any `*` prefix path, a longer prefix beats a
 *     shorter one (`/foo*` matches `/foo`, `/foo/x`, `/foobar`: a byte prefix);
 *  3. among routes on the same path, higher `priority` wins (ties: route id order);
 *  4. a candidate must also pass `methods`, `remote_addrs` and `vars`; the first that does wins.
 *
 * Structure: per host group, a Map for exact paths and a list of prefixes sorted longest
 * first. The match API and the group/bucket shape are what a radix tree would replace.
 *
 * Updates are incremental (one route touches only the buckets of its own paths and hosts) and
 * synchronous: requests run between event-loop turns, so a request sees the table before or
 * after a batch of changes, never in the middle. Buckets are replaced, never mutated in place.
 */

export interface RouteSpec<T> {
  id: string;
  /** `uri` or `uris`; a trailing `*` makes a prefix path. */
  paths: readonly string[];
  methods?: readonly string[];
  /** `host` or `hosts`; `*.example.com` matches any subdomain. */
  hosts?: readonly string[];
  priority?: number;
  remoteAddrs?: readonly string[];
  vars?: unknown;
  payload: T;
}

export interface MatchRequest {
  method: string;
  /** Normalised path, no query. */
  path: string;
  /** Lower-case host without port. */
  host: string | undefined;
  /** Peer address (v4-mapped v6 already unwrapped). */
  remoteAddr: string;
  /** Variables for `vars` conditions; only called for routes that have them. */
  lookupVar?(name: string): string | undefined;
}

interface Entry<T> {
  id: string;
  priority: number;
  methods?: ReadonlySet<string>;
  remote?: net.BlockList;
  expr?: CompiledExpr;
  payload: T;
}

interface Placement<T> {
  index: PathIndex<T>;
  hostKey: string | undefined;
  path: string;
}

interface Installed<T> {
  entry: Entry<T>;
  placements: Placement<T>[];
}

function compareEntries<T>(a: Entry<T>, b: Entry<T>): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function passes<T>(e: Entry<T>, req: MatchRequest): boolean {
  if (e.methods && !e.methods.has(req.method)) return false;
  if (e.remote && !checkIp(e.remote, req.remoteAddr)) return false;
  if (e.expr && !(req.lookupVar && e.expr(req as Required<MatchRequest>))) return false;
  return true;
}

function firstPassing<T>(bucket: readonly Entry<T>[], req: MatchRequest): Entry<T> | undefined {
  for (let i = 0; i < bucket.length; i++) if (passes(bucket[i], req)) return bucket[i];
  return undefined;
}

interface PrefixBucket<T> {
  prefix: string;
  entries: readonly Entry<T>[];
}

/** Paths of one host group: exact paths in a Map, prefixes sorted longest first. */
class PathIndex<T> {
  private readonly exact = new Map<string, readonly Entry<T>[]>();
  private prefixes: PrefixBucket<T>[] = [];

  get empty(): boolean {
    return this.exact.size === 0 && this.prefixes.length === 0;
  }

  add(path: string, entry: Entry<T>): void {
    if (path.endsWith('*')) {
      const prefix = path.slice(0, -1);
      const i = this.prefixes.findIndex((b) => b.prefix === prefix);
      if (i >= 0) {
        this.prefixes[i] = { prefix, entries: [...this.prefixes[i].entries, entry].sort(compareEntries) };
      } else {
        const next = [...this.prefixes, { prefix, entries: [entry] }];
        next.sort((a, b) => b.prefix.length - a.prefix.length || (a.prefix < b.prefix ? -1 : 1));
        this.prefixes = next;
      }
    } else {
      const bucket = this.exact.get(path);
      this.exact.set(path, bucket ? [...bucket, entry].sort(compareEntries) : [entry]);
    }
  }

  remove(path: string, entry: Entry<T>): void {
    if (path.endsWith('*')) {
      const prefix = path.slice(0, -1);
      const i = this.prefixes.findIndex((b) => b.prefix === prefix);
      if (i < 0) return;
      const left = this.prefixes[i].entries.filter((e) => e !== entry);
      if (left.length > 0) this.prefixes[i] = { prefix, entries: left };
      else this.prefixes = this.prefixes.filter((_, j) => j !== i);
    } else {
      const bucket = this.exact.get(path);
      if (!bucket) return;
      const left = bucket.filter((e) => e !== entry);
      if (left.length > 0) this.exact.set(path, left);
      else this.exact.delete(path);
    }
  }

  match(req: MatchRequest): Entry<T> | undefined {
    const bucket = this.exact.get(req.path);
    if (bucket) {
      const hit = firstPassing(bucket, req);
      if (hit) return hit;
    }
    const prefixes = this.prefixes;
    for (let i = 0; i < prefixes.length; i++) {
      if (req.path.startsWith(prefixes[i].prefix)) {
        const hit = firstPassing(prefixes[i].entries, req);
        if (hit) return hit;
      }
    }
    return undefined;
  }
}

export class Router<T> {
  private readonly installed = new Map<string, Installed<T>>();
  private readonly exactHosts = new Map<string, PathIndex<T>>();
  /** `*.example.com` → suffix `.example.com`; longest suffix first. */
  private wildcardHosts: Array<{ suffix: string; index: PathIndex<T> }> = [];
  private readonly anyHost = new PathIndex<T>();

  get size(): number {
    return this.installed.size;
  }

  has(id: string): boolean {
    return this.installed.has(id);
  }

  /**
   * Adds or replaces a route. Throws (leaving the previous version installed) when `vars` or
   * `remote_addrs` cannot be compiled.
   */
  set(spec: RouteSpec<T>): void {
    const entry: Entry<T> = {
      id: spec.id,
      priority: spec.priority ?? 0,
      methods: spec.methods && spec.methods.length > 0 ? new Set(spec.methods) : undefined,
      payload: spec.payload,
    };
    if (spec.remoteAddrs && spec.remoteAddrs.length > 0) {
      const list = new net.BlockList();
      for (const a of spec.remoteAddrs) addCidr(list, a);
      entry.remote = list;
    }
    if (spec.vars !== undefined && !(Array.isArray(spec.vars) && spec.vars.length === 0)) {
      entry.expr = compileExpr(spec.vars);
    }
    this.delete(spec.id);
    const placements: Placement<T>[] = [];
    const hosts = spec.hosts && spec.hosts.length > 0 ? [...new Set(spec.hosts.map((h) => h.toLowerCase()))] : [undefined];
    for (const hostKey of hosts) {
      const index = this.indexFor(hostKey, true)!;
      for (const path of new Set(spec.paths)) {
        index.add(path, entry);
        placements.push({ index, hostKey, path });
      }
    }
    this.installed.set(spec.id, { entry, placements });
  }

  delete(id: string): boolean {
    const old = this.installed.get(id);
    if (!old) return false;
    this.installed.delete(id);
    for (const p of old.placements) {
      p.index.remove(p.path, old.entry);
      if (p.hostKey !== undefined && p.index.empty) this.dropHostIndex(p.hostKey);
    }
    return true;
  }

  match(req: MatchRequest): T | undefined {
    if (req.host !== undefined && (this.exactHosts.size > 0 || this.wildcardHosts.length > 0)) {
      const exact = this.exactHosts.get(req.host);
      if (exact) {
        const hit = exact.match(req);
        if (hit) return hit.payload;
      }
      const wild = this.wildcardHosts;
      for (let i = 0; i < wild.length; i++) {
        const { suffix, index } = wild[i];
        if (req.host.length > suffix.length && req.host.endsWith(suffix)) {
          const hit = index.match(req);
          if (hit) return hit.payload;
        }
      }
    }
    return this.anyHost.match(req)?.payload;
  }

  private indexFor(hostKey: string | undefined, create: boolean): PathIndex<T> | undefined {
    if (hostKey === undefined) return this.anyHost;
    if (hostKey.startsWith('*')) {
      const suffix = hostKey.slice(1);
      let w = this.wildcardHosts.find((x) => x.suffix === suffix);
      if (!w && create) {
        w = { suffix, index: new PathIndex<T>() };
        const next = [...this.wildcardHosts, w];
        next.sort((a, b) => b.suffix.length - a.suffix.length || (a.suffix < b.suffix ? -1 : 1));
        this.wildcardHosts = next;
      }
      return w?.index;
    }
    let index = this.exactHosts.get(hostKey);
    if (!index && create) {
      index = new PathIndex<T>();
      this.exactHosts.set(hostKey, index);
    }
    return index;
  }

  private dropHostIndex(hostKey: string): void {
    if (hostKey.startsWith('*')) {
      const suffix = hostKey.slice(1);
      this.wildcardHosts = this.wildcardHosts.filter((w) => w.suffix !== suffix);
    } else {
      this.exactHosts.delete(hostKey);
    }
  }
}
