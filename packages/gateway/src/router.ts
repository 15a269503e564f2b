import net from 'node:net';
import { addCidr, checkIp, compileExpr, type CompiledExpr } from './expr';
import { exactAdd, exactGet, exactIsEmpty, exactRemove, newExactIndex, ownExact, shardOf, type ExactIndex } from './exact-index';
import { childAt, insert, isEmpty, newNode, own, remove, type BucketKind, type RadixNode } from './radix';

/**
 * Route matching (SPEC §6), APISIX's `radixtree_host_uri` order:
 *
 *  1. routes whose `host`/`hosts` match the request host — the exact host first, then `*.`
 *     wildcards from the longest suffix down — beat every route without hosts;
 *  2. within one host group: an exact path beats any other, then the candidates anchored on the
 *     longest static prefix of the request path come first (`/foo*` matches `/foo`, `/foo/x`,
 *     `/foobar`: a byte prefix; `/user/:id` is anchored on `/user/` and its `:id` matches one
 *     non-empty segment);
 *  3. on one anchor, `:param` paths come before a bare `*` (they say more), and among routes on
 *     the same path higher `priority` wins (ties: route id order);
 *  4. a candidate must also pass `methods`, `remote_addrs` and `vars`; the first that does wins.
 *
 * Structure: per host group, exact paths in a sharded hash table (exact-index.ts) and `*` /
 * `:param` paths in a persistent radix tree (radix.ts); exact hosts in a Map,
 * wildcard hosts in a Map by suffix (a request host is looked up once per dot, longest suffix
 * first, so the cost does not grow with the number of wildcard hosts).
 *
 * Updates are incremental and copy-on-write: a change builds a new version of the nodes on its
 * own paths (and of the host maps it touches) and publishes them with one assignment of the
 * state. `match` reads the state once, and `snapshot()` pins a version, so a reader sees the
 * table before or after an update (or a whole `batch`), never a mix.
 */

export interface RouteSpec<T> {
  id: string;
  /** `uri` or `uris`; a trailing `*` makes a prefix path; `:name` segments match one segment. */
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

/**
 * One placement of a route: one of its paths in one host group. `tokens` is the part after the
 * anchor for `:param` paths: static strings, and null for a parameter segment.
 */
interface Slot<T> {
  entry: Entry<T>;
  path: string;
  /** the radix key: the whole key of the node holding this slot */
  key: string;
  tokens?: readonly (string | null)[];
  /** the path ends in `*`: anything may follow */
  open: boolean;
}

interface Placement<T> {
  hostKey: string | undefined;
  key: string;
  kind: BucketKind;
  slot: Slot<T>;
}

interface Installed<T> {
  entry: Entry<T>;
  placements: Placement<T>[];
}

/** The routes of one host group (or of no host). Versioned like its parts. */
interface Group<T> {
  gen: number;
  exact: ExactIndex<Slot<T>> | undefined;
  tree: RadixNode<Slot<T>>;
}

/** What readers see; never changed once published. */
interface State<T> {
  readonly gen: number;
  readonly any: Group<T>;
  readonly hosts: ReadonlyMap<string, Group<T>>;
  /** `*.example.com` → key `.example.com` */
  readonly wild: ReadonlyMap<string, Group<T>>;
}

/** The state being written: owned copies are made lazily, on first touch. */
interface Draft<T> {
  gen: number;
  any: Group<T>;
  hosts: Map<string, Group<T>>;
  wild: Map<string, Group<T>>;
  hostsOwned: boolean;
  wildOwned: boolean;
}

function newGroup<T>(gen: number): Group<T> {
  return { gen, exact: undefined, tree: newNode(gen, '', 0) };
}

function ownGroup<T>(g: Group<T>, gen: number): Group<T> {
  return g.gen === gen ? g : { gen, exact: g.exact, tree: g.tree };
}

function groupIsEmpty<T>(g: Group<T>): boolean {
  return isEmpty(g.tree) && (g.exact === undefined || exactIsEmpty(g.exact));
}

export interface RouterSnapshot<T> {
  match(req: MatchRequest): T | undefined;
}

/** Splits a configured path into its radix key, bucket and (for `:param` paths) pattern tokens. */
export function parsePath(path: string): { key: string; kind: BucketKind; open: boolean; tokens?: (string | null)[] } {
  const open = path.endsWith('*');
  const body = open ? path.slice(0, -1) : path;
  const p = body.indexOf('/:');
  if (p < 0) return { key: body, kind: open ? 'anchored' : 'exact', open };
  const key = body.slice(0, p + 1);
  const rest = body.slice(p + 1);
  const tokens: (string | null)[] = [];
  let i = 0;
  while (i < rest.length) {
    if (rest.charCodeAt(i) === 58 /* : */ && (i === 0 || rest.charCodeAt(i - 1) === 47 /* / */)) {
      const end = rest.indexOf('/', i);
      tokens.push(null);
      i = end < 0 ? rest.length : end;
    } else {
      const next = rest.indexOf('/:', i);
      const end = next < 0 ? rest.length : next + 1;
      tokens.push(rest.slice(i, end));
      i = end;
    }
  }
  return { key, kind: 'anchored', open, tokens };
}

/** Does the rest of `path` from `i` fit the slot's pattern? */
function fitsPattern<T>(slot: Slot<T>, path: string, i: number): boolean {
  const tokens = slot.tokens;
  if (!tokens) return true; // a bare `*` anchored here
  for (let t = 0; t < tokens.length; t++) {
    const tok = tokens[t];
    if (tok === null) {
      let j = path.indexOf('/', i);
      if (j < 0) j = path.length;
      if (j === i) return false; // a parameter is never empty
      i = j;
    } else {
      if (!path.startsWith(tok, i)) return false;
      i += tok.length;
    }
  }
  return slot.open || i === path.length;
}

/**
 * Bucket order: `:param` patterns before a bare `*` on the same anchor; closed patterns before
 * open ones; longer paths first; then, among routes on the same path, priority and id.
 */
function compareSlots<T>(a: Slot<T>, b: Slot<T>): number {
  if (a.path !== b.path) {
    const ap = a.tokens ? 0 : 1;
    const bp = b.tokens ? 0 : 1;
    if (ap !== bp) return ap - bp;
    if (a.open !== b.open) return a.open ? 1 : -1;
    if (a.path.length !== b.path.length) return b.path.length - a.path.length;
    return a.path < b.path ? -1 : 1;
  }
  const ea = a.entry;
  const eb = b.entry;
  if (ea.priority !== eb.priority) return eb.priority - ea.priority;
  return ea.id < eb.id ? -1 : ea.id > eb.id ? 1 : 0;
}

function passes<T>(e: Entry<T>, req: MatchRequest): boolean {
  if (e.methods && !e.methods.has(req.method)) return false;
  if (e.remote && !checkIp(e.remote, req.remoteAddr)) return false;
  if (e.expr && !(req.lookupVar && e.expr(req as Required<MatchRequest>))) return false;
  return true;
}

/**
 * Nodes along the request path that hold anchored slots, and where they end. Module-level and
 * reused: a match is synchronous and never re-entered, so this costs no allocation per request.
 */
const stackNodes: Array<RadixNode<Slot<unknown>>> = [];

function matchGroup<T>(g: Group<T>, path: string, shard: number, req: MatchRequest): Entry<T> | undefined {
  if (g.exact !== undefined) {
    const exact = exactGet(g.exact, path, shard);
    if (exact !== undefined) {
      for (let k = 0; k < exact.length; k++) if (passes(exact[k].entry, req)) return exact[k].entry;
    }
  }
  // Descend by first characters only, noting anchored buckets, without reading the edge
  // labels (each is one more cold object at 100k routes). A wrong turn is caught below: a
  // candidate is used only once its key is checked to be a prefix of the path, and a checked
  // candidate vouches for every shallower one (they are its ancestors).
  let depth = 0;
  let node: RadixNode<Slot<T>> = g.tree;
  for (;;) {
    if (node.anchored !== undefined) {
      stackNodes[depth++] = node as RadixNode<Slot<unknown>>;
    }
    const i = node.end;
    if (i >= path.length) break;
    const child: RadixNode<Slot<T>> | undefined = childAt(node, path.charCodeAt(i));
    if (child === undefined || child.end > path.length) break;
    node = child;
  }
  let checked = false;
  while (depth > 0) {
    depth--;
    const anchored = stackNodes[depth].anchored as Array<Slot<T>>;
    stackNodes[depth] = undefined as never; // do not keep an old tree alive
    if (!checked) {
      if (!path.startsWith(anchored[0].key)) continue;
      checked = true;
    }
    const end = anchored[0].key.length;
    for (let k = 0; k < anchored.length; k++) {
      const s = anchored[k];
      if (fitsPattern(s, path, end) && passes(s.entry, req)) {
        while (depth > 0) stackNodes[--depth] = undefined as never;
        return s.entry;
      }
    }
  }
  return undefined;
}

function matchState<T>(s: State<T>, req: MatchRequest): T | undefined {
  const host = req.host;
  const path = req.path;
  const shard = shardOf(path);
  if (host !== undefined) {
    if (s.hosts.size > 0) {
      const g = s.hosts.get(host);
      if (g) {
        const hit = matchGroup(g, path, shard, req);
        if (hit) return hit.payload;
      }
    }
    if (s.wild.size > 0) {
      // `*.example.com` is stored as `.example.com`: try each suffix starting at a dot,
      // longest first; the label before the dot must be non-empty.
      for (let d = host.indexOf('.', 1); d > 0; d = host.indexOf('.', d + 1)) {
        const g = s.wild.get(host.slice(d));
        if (g) {
          const hit = matchGroup(g, path, shard, req);
          if (hit) return hit.payload;
        }
      }
    }
  }
  return matchGroup(s.any, path, shard, req)?.payload;
}

export class Router<T> {
  private readonly installed = new Map<string, Installed<T>>();
  private state: State<T>;
  private draft?: Draft<T>;
  private gen = 0;

  constructor() {
    this.state = { gen: 0, any: newGroup(0), hosts: new Map(), wild: new Map() };
  }

  get size(): number {
    return this.installed.size;
  }

  has(id: string): boolean {
    return this.installed.has(id);
  }

  /** A published version (the current one, or the draft's base inside a batch). */
  get version(): number {
    return this.state.gen;
  }

  match(req: MatchRequest): T | undefined {
    return matchState(this.state, req);
  }

  /** Pins the current version: later updates do not change what it matches. */
  snapshot(): RouterSnapshot<T> {
    const s = this.state;
    return { match: (req) => matchState(s, req) };
  }

  /**
   * Applies several updates as one version: nothing is published until `fn` returns (or
   * throws — what it did so far is published, consistent with `installed`). A batch copies each
   * touched node at most once, so a full load costs the same as building the tree mutably.
   */
  batch<R>(fn: () => R): R {
    if (this.draft) return fn();
    const s = this.state;
    this.draft = { gen: ++this.gen, any: s.any, hosts: s.hosts as Map<string, Group<T>>,
      wild: s.wild as Map<string, Group<T>>, hostsOwned: false, wildOwned: false };
    try {
      return fn();
    } finally {
      const d = this.draft;
      this.draft = undefined;
      this.state = { gen: d.gen, any: d.any, hosts: d.hosts, wild: d.wild };
    }
  }

  /**
   * Adds or replaces a route. Throws (leaving the previous version installed) when `vars` or
   * `remote_addrs` cannot be compiled.
   */
  set(spec: RouteSpec<T>): void {
    const entry = compileEntry(spec);
    const hosts = spec.hosts && spec.hosts.length > 0 ? [...new Set(spec.hosts.map((h) => h.toLowerCase()))] : [undefined];
    const placements: Placement<T>[] = [];
    for (const hostKey of hosts) {
      for (const path of new Set(spec.paths)) {
        const { key, kind, open, tokens } = parsePath(path);
        placements.push({ hostKey, key, kind, slot: { entry, path, key, open, tokens } });
      }
    }
    this.batch(() => {
      this.unplace(spec.id);
      for (const p of placements) {
        const d = this.draft!;
        const g = this.ownGroup(d, p.hostKey);
        if (p.kind === 'exact') {
          g.exact = ownExact(g.exact ?? newExactIndex(d.gen), d.gen);
          exactAdd(g.exact, p.key, p.slot, compareSlots);
        } else {
          g.tree = own(g.tree, d.gen);
          insert(g.tree, p.key, p.kind, p.slot, d.gen, compareSlots);
        }
      }
      this.installed.set(spec.id, { entry, placements });
    });
  }

  delete(id: string): boolean {
    if (!this.installed.has(id)) return false;
    this.batch(() => this.unplace(id));
    return true;
  }

  private unplace(id: string): void {
    const old = this.installed.get(id);
    if (!old) return;
    this.installed.delete(id);
    const d = this.draft!;
    for (const p of old.placements) {
      const g = this.ownGroup(d, p.hostKey);
      if (p.kind === 'exact') {
        g.exact = ownExact(g.exact!, d.gen);
        exactRemove(g.exact, p.key, p.slot);
      } else {
        g.tree = own(g.tree, d.gen);
        remove(g.tree, p.key, p.kind, p.slot, d.gen);
      }
      if (p.hostKey !== undefined && groupIsEmpty(g)) this.hostMap(d, p.hostKey).delete(hostMapKey(p.hostKey));
    }
  }

  /** The owned host group in the draft, created if missing. */
  private ownGroup(d: Draft<T>, hostKey: string | undefined): Group<T> {
    if (hostKey === undefined) return (d.any = ownGroup(d.any, d.gen));
    const k = hostMapKey(hostKey);
    const cur = (hostKey.startsWith('*') ? d.wild : d.hosts).get(k);
    const g = cur ? ownGroup(cur, d.gen) : newGroup<T>(d.gen);
    if (g !== cur) this.hostMap(d, hostKey).set(k, g);
    return g;
  }

  /** The draft's host map for this key, copied once per batch before its first change. */
  private hostMap(d: Draft<T>, hostKey: string): Map<string, Group<T>> {
    if (hostKey.startsWith('*')) {
      if (!d.wildOwned) {
        d.wild = new Map(d.wild);
        d.wildOwned = true;
      }
      return d.wild;
    }
    if (!d.hostsOwned) {
      d.hosts = new Map(d.hosts);
      d.hostsOwned = true;
    }
    return d.hosts;
  }
}

/** `*.example.com` → `.example.com`; an exact host is its own key. */
function hostMapKey(hostKey: string): string {
  return hostKey.startsWith('*') ? hostKey.slice(1) : hostKey;
}

function compileEntry<T>(spec: RouteSpec<T>): Entry<T> {
  // All fields always present: one hidden class for every entry the match loop reads.
  const entry: Entry<T> = {
    id: spec.id,
    priority: spec.priority ?? 0,
    methods: spec.methods && spec.methods.length > 0 ? new Set(spec.methods) : undefined,
    remote: undefined,
    expr: undefined,
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
  return entry;
}
