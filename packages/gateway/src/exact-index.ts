/**
 * Exact paths of one host group: a hash table split into a fixed number of shards (Maps), so
 * it can be versioned like the radix tree. A writer that changes one path copies the shard
 * array (256 pointers) and that one shard — about n/256 entries — never the whole table; a
 * batch copies each shard at most once. A lookup is one hash over the path and one Map get,
 * which is what makes exact-path matching cheap at 100k routes (a tree walk would chase a
 * pointer per path segment).
 */

const SHARD_BITS = 8;
const SHARD_MASK = (1 << SHARD_BITS) - 1;

export interface ExactIndex<S> {
  gen: number;
  shards: Array<Map<string, readonly S[]> | undefined>;
  /** generation that created each shard: a shard of the writer's generation is changed in place */
  shardGen: number[];
}

/** FNV-1a over UTF-16 code units; only the low bits pick a shard. */
export function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h ^ (h >>> 16)) & SHARD_MASK;
}

export function newExactIndex<S>(gen: number): ExactIndex<S> {
  return { gen, shards: new Array(SHARD_MASK + 1).fill(undefined), shardGen: new Array(SHARD_MASK + 1).fill(-1) };
}

export function ownExact<S>(ix: ExactIndex<S>, gen: number): ExactIndex<S> {
  if (ix.gen === gen) return ix;
  return { gen, shards: ix.shards.slice(), shardGen: ix.shardGen.slice() };
}

function ownShard<S>(ix: ExactIndex<S>, s: number): Map<string, readonly S[]> {
  let m = ix.shards[s];
  if (ix.shardGen[s] !== ix.gen) {
    m = m ? new Map(m) : new Map();
    ix.shards[s] = m;
    ix.shardGen[s] = ix.gen;
  }
  return m!;
}

/** Adds a slot under an owned index. Buckets are replaced, never changed (older shards share them). */
export function exactAdd<S>(ix: ExactIndex<S>, key: string, slot: S, compare: (a: S, b: S) => number): void {
  const m = ownShard(ix, shardOf(key));
  const old = m.get(key);
  m.set(key, old ? [...old, slot].sort(compare) : [slot]);
}

export function exactRemove<S>(ix: ExactIndex<S>, key: string, slot: S): void {
  const s = shardOf(key);
  const old = ix.shards[s]?.get(key);
  if (!old || !old.includes(slot)) return;
  const m = ownShard(ix, s);
  const left = old.filter((x) => x !== slot);
  if (left.length > 0) m.set(key, left);
  else m.delete(key);
}

export function exactGet<S>(ix: ExactIndex<S>, key: string, shard: number): readonly S[] | undefined {
  const m = ix.shards[shard];
  return m === undefined ? undefined : m.get(key);
}

export function exactIsEmpty<S>(ix: ExactIndex<S>): boolean {
  return ix.shards.every((m) => m === undefined || m.size === 0);
}
