import net from 'node:net';
import { addCidr, checkIp, compileExpr, type CompiledExpr } from '@portico/core';
import {
  addValue, bloomAdd, EMPTY, findSlot, getAt, indexSize, indexValues, newBloom, newHashIndex, ownIndex, removeAt,
  replaceAt, SHARD_BITS, SHARD_MASK, type Bloom, type HashIndex,
} from './exact-index';

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
 * Structure: every host group's exact paths and anchors are keys of one hash table
 * (exact-index.ts), salted per group and kind. A match hashes every prefix of the request path
 * in one pass, probes the exact key, then each prefix length from the longest down (a Bloom
 * filter answers most of them without touching the table). A key's value is a chain of cells,
 * one per route on that key, in match order; a cell carries what the match checks (methods as a
 * bit mask, remote_addrs, vars, pattern, payload), so a hit reads the table line, the cell and
 * the key string — three cold loads at 100k routes. Exact hosts sit in a Map, wildcard hosts in
 * a Map by suffix (a request host is looked up once per dot, longest suffix first).
 *
 * Updates are incremental and copy-on-write: a change copies the table shards, chains, groups
 * and host maps it touches and publishes them with one assignment of the state. `match` reads
 * the state once, and `snapshot()` pins a version, so a reader sees the table before or after
 * an update (or a whole `batch`), never a mix.
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

export type BucketKind = 'exact' | 'anchored';

interface Entry<T> {
  id: string;
  priority: number;
  methods?: ReadonlySet<string>;
  /** `methods` as bits of METHOD_BITS; ALL_METHODS when the route has none */
  methodMask: number;
  remote?: net.BlockList;
  expr?: CompiledExpr;
  payload: T;
}

/**
 * One placement of a route: one of its paths in one host group (writer side). `tokens` is the
 * part after the anchor for `:param` paths: static strings, and null for a parameter segment.
 */
interface Slot<T> {
  entry: Entry<T>;
  path: string;
  hostKey: string | undefined;
  /** the index key: the whole path, or the anchor */
  key: string;
  kind: BucketKind;
  tokens?: readonly (string | null)[];
  /** `tokens` as one shared string (see patternOf) */
  pattern?: string;
  /** the path ends in `*`: anything may follow */
  open: boolean;
}

/**
 * What the table holds under a key: the routes on that key in match order, as a linked chain.
 * Immutable once published (a change builds a new chain). The entry's checks are copied in so
 * that a hit does not load the entry as well.
 */
interface Cell<T> {
  methodMask: number;
  methods: ReadonlySet<string> | undefined;
  remote: net.BlockList | undefined;
  expr: CompiledExpr | undefined;
  /** the slot's pattern (see patternOf) */
  pattern: string | undefined;
  open: boolean;
  payload: T;
  next: Cell<T> | undefined;
  slot: Slot<T>;
}

interface Installed<T> {
  entry: Entry<T>;
  slots: Slot<T>[];
}

/** One host group (or the host-less one). Versioned: copied before a writer changes it. */
interface Group {
  gen: number;
  gid: number;
  /** salts that spread this group's exact and anchor keys over the shared table */
  saltExact: number;
  saltAnchor: number;
  /** the table tags of this group's exact and anchor keys (its gid and kind) */
  tagExact: number;
  tagAnchor: number;
  exactSlots: number;
  anchoredSlots: number;
  /** bounds on the anchor lengths present (not shrunk on delete; reset when none are left) */
  minAnchor: number;
  maxAnchor: number;
}

/** What readers see; never changed once published. */
interface State<T> {
  readonly gen: number;
  readonly any: Group;
  readonly hosts: ReadonlyMap<string, Group>;
  /** `*.example.com` → key `.example.com` */
  readonly wild: ReadonlyMap<string, Group>;
  readonly index: HashIndex<Cell<T>>;
  readonly bloom: Bloom;
}

/** The state being written: owned copies are made lazily, on first touch. */
interface Draft<T> {
  gen: number;
  any: Group;
  hosts: Map<string, Group>;
  wild: Map<string, Group>;
  hostsOwned: boolean;
  wildOwned: boolean;
  index: HashIndex<Cell<T>>;
  bloom: Bloom;
}

export interface RouterSnapshot<T> {
  match(req: MatchRequest): T | undefined;
}

const METHOD_BITS: Readonly<Record<string, number>> = {
  GET: 1, POST: 2, PUT: 4, DELETE: 8, PATCH: 16, HEAD: 32, OPTIONS: 64, CONNECT: 128, TRACE: 256, PURGE: 512,
};
const ALL_METHODS = -1;

/** A request method's bit; 0 for a method outside METHOD_BITS (then the route's Set decides). */
function methodBit(m: string): number {
  switch (m) {
    case 'GET': return 1;
    case 'POST': return 2;
    case 'PUT': return 4;
    case 'DELETE': return 8;
    case 'PATCH': return 16;
    case 'HEAD': return 32;
    case 'OPTIONS': return 64;
    case 'CONNECT': return 128;
    case 'TRACE': return 256;
    case 'PURGE': return 512;
    default: return 0;
  }
}

/** 32-bit finaliser (murmur3 fmix32): spreads a salted FNV hash over all bits. */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;
const HASH_MASK = 0x3fffffff;

/** FNV-1a of a whole key (the writer's side of `prefixHashes`). */
function fnv(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** The table hash of a key in a group: a 30-bit small integer. */
function keyHash(fnvOfKey: number, salt: number): number {
  return mix(fnvOfKey ^ salt) & HASH_MASK;
}

/**
 * FNV-1a of every prefix of the request path: prefixes[i] is the hash of path[0, i). Module
 * level and reused: a match is synchronous, so this costs no allocation per request.
 */
let prefixes = new Int32Array(256);

function hashPrefixes(path: string): void {
  const n = path.length;
  if (n >= prefixes.length) prefixes = new Int32Array(Math.max(n + 1, prefixes.length * 2));
  const hs = prefixes;
  let h = FNV_OFFSET;
  hs[0] = h;
  for (let i = 0; i < n; i++) {
    h = Math.imul(h ^ path.charCodeAt(i), FNV_PRIME);
    hs[i + 1] = h;
  }
}

let nextGid = 1;

function newGroup(gen: number, gid = nextGid++): Group {
  return { gen, gid, saltExact: mix(gid * 2 + 1), saltAnchor: mix(gid * 2 + 2), tagExact: gid * 2, tagAnchor: gid * 2 + 1,
    exactSlots: 0, anchoredSlots: 0, minAnchor: 0x7fffffff, maxAnchor: -1 };
}

function ownGroup(g: Group, gen: number): Group {
  return g.gen === gen ? g : { ...g, gen };
}

/** Splits a configured path into its index key, bucket and (for `:param` paths) pattern tokens. */
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

function passes<T>(c: Cell<T>, req: MatchRequest): boolean {
  if (c.methodMask !== ALL_METHODS) {
    const bit = methodBit(req.method);
    if (bit === 0 ? !c.methods!.has(req.method) : (c.methodMask & bit) === 0) return false;
  }
  if (c.remote !== undefined && !checkIp(c.remote, req.remoteAddr)) return false;
  if (c.expr !== undefined && !(req.lookupVar && c.expr(req as Required<MatchRequest>))) return false;
  return true;
}

/**
 * The pattern after the anchor as one string: the tokens joined, each parameter written as a bare
 * `:` (a `:` that starts a segment is always a parameter, so this reads back unambiguously).
 * Interned: V8 keeps one weakly held copy of every property name, so the thousands of routes
 * ending in `/:id/detail` share one `:/detail` that stays in cache, where a tokens array per route
 * would be one more cold object to load on every `:param` hit.
 */
function patternOf(tokens: readonly (string | null)[] | undefined): string | undefined {
  if (tokens === undefined) return undefined;
  const o: Record<string, number> = { [tokens.map((t) => (t === null ? ':' : t)).join('')]: 0 };
  for (const k in o) return k;
  return undefined;
}

/** Does the rest of `path` from `i` (after the anchor) fit the cell's pattern? */
function fitsPattern<T>(c: Cell<T>, path: string, i: number): boolean {
  const pat = c.pattern;
  if (pat === undefined) return true; // a bare `*` anchored here
  const n = path.length;
  for (let p = 0; p < pat.length; p++) {
    const ch = pat.charCodeAt(p);
    if (ch === 58 /* : */ && (p === 0 || pat.charCodeAt(p - 1) === 47 /* / */)) {
      const j0 = i;
      while (i < n && path.charCodeAt(i) !== 47) i++;
      if (i === j0) return false; // a parameter is never empty
    } else {
      if (i >= n || path.charCodeAt(i) !== ch) return false;
      i++;
    }
  }
  return c.open || i === n;
}

/**
 * The first passing route of one group. `prefixes` holds the path's prefix hashes. Every probe
 * starts with the Bloom filter (one word, in cache), so a key that is not there rarely costs a
 * load from the table. The probe and filter arithmetic is exact-index.ts's (`homeSlot`, STRIDE
 * = 4, `bloomBits`, `bloomWord`) written out inline: this loop is the hot path, and the tests
 * at a few thousand routes fail if the two ever disagree.
 */
function matchGroup<T>(s: State<T>, g: Group, path: string, req: MatchRequest): Cell<T> | undefined {
  const words = s.bloom.words;
  const shift = s.bloom.shift;
  const shards = s.index.shards;
  const n = path.length;
  if (g.exactSlots > 0) {
    const h = mix(prefixes[n] ^ g.saltExact) & HASH_MASK;
    const y = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    const bits = (1 << (y & 31)) | (1 << ((y >>> 5) & 31));
    if ((words[Math.imul(h, 0x9e3779b1) >>> shift] & bits) === bits) {
      const shard = shards[h & SHARD_MASK];
      const mask = shard.length - 1;
      for (let k = ((h >>> SHARD_BITS) * 4) & mask; shard[k] !== EMPTY; k = (k + 4) & mask) {
        if (shard[k] !== h || shard[k + 1] !== g.tagExact) continue;
        // Touch the cell before comparing the key: both are cold, and this way the two loads
        // are in flight together.
        const head = shard[k + 3] as Cell<T>;
        const first = head.methodMask;
        if (shard[k + 2] !== path) continue;
        if (first === ALL_METHODS && head.remote === undefined && head.expr === undefined) return head;
        for (let c: Cell<T> | undefined = head; c !== undefined; c = c.next) if (passes(c, req)) return c;
        break;
      }
    }
  }
  if (g.anchoredSlots > 0) {
    for (let i = n < g.maxAnchor ? n : g.maxAnchor; i >= g.minAnchor; i--) {
      const h = mix(prefixes[i] ^ g.saltAnchor) & HASH_MASK;
      const y = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
      const bits = (1 << (y & 31)) | (1 << ((y >>> 5) & 31));
      if ((words[Math.imul(h, 0x9e3779b1) >>> shift] & bits) !== bits) continue;
      const shard = shards[h & SHARD_MASK];
      const mask = shard.length - 1;
      for (let k = ((h >>> SHARD_BITS) * 4) & mask; shard[k] !== EMPTY; k = (k + 4) & mask) {
        if (shard[k] !== h || shard[k + 1] !== g.tagAnchor) continue;
        const head = shard[k + 3] as Cell<T>;
        const first = head.pattern; // in flight with the key, as above
        const key = shard[k + 2] as string;
        if (key.length !== i || !path.startsWith(key)) continue;
        if (first === undefined && head.methodMask === ALL_METHODS && head.remote === undefined && head.expr === undefined) {
          return head;
        }
        for (let c: Cell<T> | undefined = head; c !== undefined; c = c.next) {
          if (fitsPattern(c, path, i) && passes(c, req)) return c;
        }
        break;
      }
    }
  }
  return undefined;
}

function matchState<T>(s: State<T>, req: MatchRequest): T | undefined {
  const host = req.host;
  const path = req.path;
  hashPrefixes(path);
  if (host !== undefined) {
    if (s.hosts.size > 0) {
      const g = s.hosts.get(host);
      if (g !== undefined) {
        const hit = matchGroup(s, g, path, req);
        if (hit !== undefined) return hit.payload;
      }
    }
    if (s.wild.size > 0) {
      // `*.example.com` is stored as `.example.com`: try each suffix starting at a dot,
      // longest first; the label before the dot must be non-empty.
      for (let d = host.indexOf('.', 1); d > 0; d = host.indexOf('.', d + 1)) {
        const g = s.wild.get(host.slice(d));
        if (g !== undefined) {
          const hit = matchGroup(s, g, path, req);
          if (hit !== undefined) return hit.payload;
        }
      }
    }
  }
  const hit = matchGroup(s, s.any, path, req);
  return hit === undefined ? undefined : hit.payload;
}

export class Router<T> {
  private readonly installed = new Map<string, Installed<T>>();
  private state: State<T>;
  private draft?: Draft<T>;
  private gen = 0;

  constructor() {
    this.state = { gen: 0, any: newGroup(0, 0), hosts: new Map(), wild: new Map(), index: newHashIndex(0), bloom: newBloom() };
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
   * touched shard at most once, so a full load costs the same as building the table mutably.
   */
  batch<R>(fn: () => R): R {
    if (this.draft) return fn();
    const s = this.state;
    this.draft = { gen: ++this.gen, any: s.any, hosts: s.hosts as Map<string, Group>, wild: s.wild as Map<string, Group>,
      hostsOwned: false, wildOwned: false, index: s.index, bloom: s.bloom };
    try {
      return fn();
    } finally {
      const d = this.draft;
      this.draft = undefined;
      this.state = { gen: d.gen, any: d.any, hosts: d.hosts, wild: d.wild, index: d.index, bloom: d.bloom };
    }
  }

  /**
   * Adds or replaces a route. Throws (leaving the previous version installed) when `vars` or
   * `remote_addrs` cannot be compiled.
   */
  set(spec: RouteSpec<T>): void {
    const entry = compileEntry(spec);
    const hosts = spec.hosts && spec.hosts.length > 0 ? [...new Set(spec.hosts.map((h) => h.toLowerCase()))] : [undefined];
    const slots: Slot<T>[] = [];
    for (const hostKey of hosts) {
      for (const path of new Set(spec.paths)) {
        const { key, kind, open, tokens } = parsePath(path);
        slots.push({ entry, path, hostKey, key, kind, open, tokens, pattern: patternOf(tokens) });
      }
    }
    this.batch(() => {
      this.unplace(spec.id);
      for (const slot of slots) this.place(slot);
      this.installed.set(spec.id, { entry, slots });
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
    for (const slot of old.slots) {
      const g = this.ownGroup(d, slot.hostKey);
      this.rechain(d, g, slot, false);
      if (slot.kind === 'exact') g.exactSlots--;
      else if (--g.anchoredSlots === 0) {
        g.minAnchor = 0x7fffffff;
        g.maxAnchor = -1;
      }
      if (slot.hostKey !== undefined && g.exactSlots + g.anchoredSlots === 0) {
        this.hostMap(d, slot.hostKey).delete(hostMapKey(slot.hostKey));
      }
    }
  }

  private place(slot: Slot<T>): void {
    const d = this.draft!;
    const g = this.ownGroup(d, slot.hostKey);
    this.rechain(d, g, slot, true);
    if (slot.kind === 'exact') g.exactSlots++;
    else {
      g.anchoredSlots++;
      if (slot.key.length < g.minAnchor) g.minAnchor = slot.key.length;
      if (slot.key.length > g.maxAnchor) g.maxAnchor = slot.key.length;
    }
  }

  /** Adds `slot` to (or removes it from) the chain of its key, building a new chain. */
  private rechain(d: Draft<T>, g: Group, slot: Slot<T>, add: boolean): void {
    const anchored = slot.kind === 'anchored';
    const h = keyHash(fnv(slot.key), anchored ? g.saltAnchor : g.saltExact);
    d.index = ownIndex(d.index, d.gen);
    const tag = anchored ? g.tagAnchor : g.tagExact;
    const at = findSlot(d.index, h, tag, slot.key);
    const slots: Slot<T>[] = [];
    if (at >= 0) for (let c: Cell<T> | undefined = getAt(d.index, h, at); c; c = c.next) if (c.slot !== slot) slots.push(c.slot);
    if (add) slots.push(slot);
    slots.sort(compareSlots);
    let head: Cell<T> | undefined;
    for (let i = slots.length - 1; i >= 0; i--) head = newCell(slots[i], head);
    if (head === undefined) {
      if (at >= 0) removeAt(d.index, h, at);
    } else if (at >= 0) {
      replaceAt(d.index, h, at, head);
    } else {
      addValue(d.index, h, tag, slot.key, head);
      if (!bloomAdd(d.bloom, h)) d.bloom = rebuildBloom(d.index);
    }
  }

  /** The owned host group in the draft, created if missing. */
  private ownGroup(d: Draft<T>, hostKey: string | undefined): Group {
    if (hostKey === undefined) return (d.any = ownGroup(d.any, d.gen));
    const k = hostMapKey(hostKey);
    const cur = (hostKey.startsWith('*') ? d.wild : d.hosts).get(k);
    const g = cur ? ownGroup(cur, d.gen) : newGroup(d.gen);
    if (g !== cur) this.hostMap(d, hostKey).set(k, g);
    return g;
  }

  /** The draft's host map for this key, copied once per batch before its first change. */
  private hostMap(d: Draft<T>, hostKey: string): Map<string, Group> {
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

/** A filter sized for the keys now in the table (stale bits of deleted keys are dropped). */
function rebuildBloom<T>(index: HashIndex<Cell<T>>): Bloom {
  const b = newBloom(indexSize(index));
  for (const [h] of indexValues(index)) bloomAdd(b, h);
  return b;
}

function newCell<T>(slot: Slot<T>, next: Cell<T> | undefined): Cell<T> {
  const e = slot.entry;
  // All fields always present: one hidden class for every cell the match loop reads.
  return { methodMask: e.methodMask, methods: e.methods,
    remote: e.remote, expr: e.expr, pattern: slot.pattern, open: slot.open, payload: e.payload, next, slot };
}

/** `*.example.com` → `.example.com`; an exact host is its own key. */
function hostMapKey(hostKey: string): string {
  return hostKey.startsWith('*') ? hostKey.slice(1) : hostKey;
}

function compileEntry<T>(spec: RouteSpec<T>): Entry<T> {
  const entry: Entry<T> = {
    id: spec.id,
    priority: spec.priority ?? 0,
    methods: spec.methods && spec.methods.length > 0 ? new Set(spec.methods) : undefined,
    methodMask: ALL_METHODS,
    remote: undefined,
    expr: undefined,
    payload: spec.payload,
  };
  if (entry.methods) {
    entry.methodMask = 0;
    for (const m of entry.methods) if (Object.hasOwn(METHOD_BITS, m)) entry.methodMask |= METHOD_BITS[m];
  }
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
