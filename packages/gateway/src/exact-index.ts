/**
 * The router's path index: one hash table for every exact key of every host group (exact paths,
 * and the anchors of `*` / `:param` paths), plus a Bloom filter over the same keys.
 *
 * Why a hash table and not a tree: at 100k routes a match is bound by cache misses, not by
 * instructions. A tree walk chases two cold objects per level; a probe here touches one cold
 * line of the table (hash and value sit side by side in one array) and then the value. Anchored
 * paths are found by probing each prefix length of the request path, longest first; the Bloom
 * filter (small, so it stays in cache) turns almost every length that holds no anchor into a
 * miss that costs no cold load.
 *
 * Versioning: the table is split into shards (plain arrays of `[hash, value, ...]` pairs, linear
 * probing). A writer that changes one key copies the shard array (256 pointers) and that one
 * shard, never the whole table; a batch copies each shard at most once. Readers hold an older
 * version and never see a change until the new one is published. The Bloom filter is the one
 * exception: it is shared by every version and only ever gains bits in place — extra bits cost an
 * older reader at most a wasted probe, never a wrong answer, and copying it per change would cost
 * more than the change itself. A rebuild (which drops the bits of deleted keys) makes a new one.
 *
 * Hashes are 30-bit non-negative integers (small integers in V8, stored unboxed in the arrays);
 * EMPTY marks a free slot.
 */

const SHARD_BITS = 8;
const SHARD_MASK = (1 << SHARD_BITS) - 1;
export const EMPTY = -1;
/** A fresh shard: 4 pairs. Shards double when half full (linear probing stays short). */
const MIN_PAIRS = 4;

export interface HashIndex<V> {
  gen: number;
  /** Each shard: `[hash, value, hash, value, ...]`, a power of two of pairs. */
  shards: Array<Array<number | V>>;
  /** generation that created each shard: a shard of the writer's generation is changed in place */
  shardGen: number[];
  /** used pairs per shard (writer side) */
  counts: number[];
}

function emptyShard<V>(pairs: number): Array<number | V> {
  const a = new Array<number | V>(pairs * 2);
  for (let i = 0; i < a.length; i += 2) {
    a[i] = EMPTY;
    a[i + 1] = 0; // one elements kind for every slot: numbers and objects, never holes
  }
  return a;
}

export function newHashIndex<V>(gen: number): HashIndex<V> {
  const shards: Array<Array<number | V>> = [];
  for (let s = 0; s <= SHARD_MASK; s++) shards.push(emptyShard<V>(MIN_PAIRS));
  return { gen, shards, shardGen: new Array(SHARD_MASK + 1).fill(gen), counts: new Array(SHARD_MASK + 1).fill(0) };
}

export function ownIndex<V>(ix: HashIndex<V>, gen: number): HashIndex<V> {
  if (ix.gen === gen) return ix;
  return { gen, shards: ix.shards.slice(), shardGen: ix.shardGen.slice(), counts: ix.counts.slice() };
}

/** The shard for `hash` (readers inline this). */
export function shardFor<V>(ix: HashIndex<V>, hash: number): Array<number | V> {
  return ix.shards[hash & SHARD_MASK];
}

/** First slot (an even index) to probe for `hash` in `shard`. */
export function homeSlot(shard: ArrayLike<unknown>, hash: number): number {
  return ((hash >>> SHARD_BITS) << 1) & (shard.length - 1);
}

function ownShard<V>(ix: HashIndex<V>, s: number): Array<number | V> {
  if (ix.shardGen[s] !== ix.gen) {
    ix.shards[s] = ix.shards[s].slice();
    ix.shardGen[s] = ix.gen;
  }
  return ix.shards[s];
}

/** Slot index of the value under `hash` that `same` accepts, or -1. */
export function findSlot<V>(ix: HashIndex<V>, hash: number, same: (v: V) => boolean): number {
  const shard = ix.shards[hash & SHARD_MASK];
  const mask = shard.length - 1;
  for (let i = homeSlot(shard, hash); shard[i] !== EMPTY; i = (i + 2) & mask) {
    if (shard[i] === hash && same(shard[i + 1] as V)) return i;
  }
  return -1;
}

export function getAt<V>(ix: HashIndex<V>, hash: number, slot: number): V {
  return ix.shards[hash & SHARD_MASK][slot + 1] as V;
}

/** Replaces the value at a slot found by `findSlot` (the index must be owned). */
export function replaceAt<V>(ix: HashIndex<V>, hash: number, slot: number, value: V): void {
  ownShard(ix, hash & SHARD_MASK)[slot + 1] = value;
}

/** Adds a value under `hash` (the caller checked its key is not there yet). */
export function addValue<V>(ix: HashIndex<V>, hash: number, value: V): void {
  const s = hash & SHARD_MASK;
  let shard = ownShard(ix, s);
  if ((ix.counts[s] + 1) * 4 > shard.length) shard = ix.shards[s] = rehash(shard, shard.length);
  const mask = shard.length - 1;
  let i = homeSlot(shard, hash);
  while (shard[i] !== EMPTY) i = (i + 2) & mask;
  shard[i] = hash;
  shard[i + 1] = value;
  ix.counts[s]++;
}

function rehash<V>(old: Array<number | V>, pairs: number): Array<number | V> {
  const shard = emptyShard<V>(pairs);
  const mask = shard.length - 1;
  for (let j = 0; j < old.length; j += 2) {
    const h = old[j] as number;
    if (h === EMPTY) continue;
    let i = homeSlot(shard, h);
    while (shard[i] !== EMPTY) i = (i + 2) & mask;
    shard[i] = h;
    shard[i + 1] = old[j + 1];
  }
  return shard;
}

/** Removes the pair at `slot` (found by `findSlot`), shifting later pairs of its run back. */
export function removeAt<V>(ix: HashIndex<V>, hash: number, slot: number): void {
  const s = hash & SHARD_MASK;
  const shard = ownShard(ix, s);
  const mask = shard.length - 1;
  let hole = slot;
  for (let i = (hole + 2) & mask; shard[i] !== EMPTY; i = (i + 2) & mask) {
    const home = homeSlot(shard, shard[i] as number);
    // The pair at i may move into the hole unless its home lies cyclically in (hole, i].
    const between = hole <= i ? home > hole && home <= i : home > hole || home <= i;
    if (between) continue;
    shard[hole] = shard[i];
    shard[hole + 1] = shard[i + 1];
    hole = i;
  }
  shard[hole] = EMPTY;
  shard[hole + 1] = 0;
  ix.counts[s]--;
  // Shrink a shard that emptied out, so a table that grew and was cleared gives memory back.
  if (ix.counts[s] * 16 < shard.length && shard.length > MIN_PAIRS * 2) ix.shards[s] = rehash(shard, shard.length / 4);
}

export function indexSize<V>(ix: HashIndex<V>): number {
  let n = 0;
  for (const c of ix.counts) n += c;
  return n;
}

/** Every value (tests and rebuilding the Bloom filter). */
export function* indexValues<V>(ix: HashIndex<V>): Generator<[number, V]> {
  for (const shard of ix.shards) {
    for (let i = 0; i < shard.length; i += 2) if (shard[i] !== EMPTY) yield [shard[i] as number, shard[i + 1] as V];
  }
}

/**
 * A blocked Bloom filter: two bits in one 32-bit word per key, ≥ 16 bits per key, so a lookup
 * that is not there answers "no" about 98 % of the time from one word (the whole filter stays
 * in cache). Bits are never cleared: stale keys only raise the false-positive rate, and the
 * writer rebuilds the filter when the keys added since the last rebuild fill it.
 */
export interface Bloom {
  words: Int32Array;
  /** 32 - log2(words.length): the shift that picks a word from a hash's top bits */
  shift: number;
  /** keys added since the last rebuild (some may be gone) */
  added: number;
}

/** A filter with ≥ 32 bits for each of `keys` keys, so it takes as many again before a rebuild. */
export function newBloom(keys = 0): Bloom {
  let log2 = 6;
  while ((1 << log2) < keys && log2 < 24) log2++;
  return { words: new Int32Array(1 << log2), shift: 32 - log2, added: 0 };
}

/** Bits of `hash` in its word (readers inline this). */
export function bloomBits(hash: number): number {
  const y = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d);
  return (1 << (y & 31)) | (1 << ((y >>> 5) & 31));
}

export function bloomWord(b: Bloom, hash: number): number {
  return Math.imul(hash, 0x9e3779b1) >>> b.shift;
}

export function bloomMayHave(b: Bloom, hash: number): boolean {
  const bits = bloomBits(hash);
  return (b.words[bloomWord(b, hash)] & bits) === bits;
}

/** Adds a key (in place, see above). Returns false when the filter is too full (rebuild it). */
export function bloomAdd(b: Bloom, hash: number): boolean {
  b.words[bloomWord(b, hash)] |= bloomBits(hash);
  b.added++;
  return b.added * 16 <= b.words.length * 32;
}
