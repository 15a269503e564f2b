/**
 * The router's path index: one hash table for every exact key of every host group (exact paths,
 * and the anchors of `*` / `:param` paths), plus a Bloom filter over the same keys.
 *
 * Why a hash table and not a tree: at 100k routes a match is bound by cache misses, not by
 * instructions. A tree walk chases two cold objects per level; a probe here touches one cold
 * line of the table (hash, key and value side by side in one array), then the key string and
 * the value, both at once. Anchored
 * paths are found by probing each prefix length of the request path, longest first; the Bloom
 * filter (small, so it stays in cache) turns almost every length that holds no anchor into a
 * miss that costs no cold load.
 *
 * Versioning: the table is split into shards (plain arrays of `[hash, tag, key, value, ...]`
 * slots, linear probing; the tag tells host groups and kinds apart). A writer that changes one
 * key copies the shard array (1024 pointers) and that one shard, never the whole table; a batch copies each shard at most once. Readers hold an older
 * version and never see a change until the new one is published. The Bloom filter is the one
 * exception: it is shared by every version and only ever gains bits in place — extra bits cost an
 * older reader at most a wasted probe, never a wrong answer, and copying it per change would cost
 * more than the change itself. A rebuild (which drops the bits of deleted keys) makes a new one.
 *
 * Hashes are 30-bit non-negative integers (small integers in V8, stored unboxed in the arrays);
 * EMPTY marks a free slot.
 */

/**
 * 1024 shards: at 100k routes a shard holds ~110 keys (256 slots, 4 KB), so a one-route change
 * copies little, and the copies that survive until the next scavenge (the newest version's
 * shards) stay small — with 256 shards of 16 KB each, those survivors made scavenges of 6-13 ms
 * that showed up in the change p99.
 */
export const SHARD_BITS = 10;
export const SHARD_MASK = (1 << SHARD_BITS) - 1;
export const EMPTY = -1;
/**
 * A slot is four array elements: `hash, tag, key, value`. The key sits in the table, not only in
 * the value, so that a reader can start loading the value and the key string (both cold at 100k
 * routes) at the same time instead of one after the other.
 */
export const STRIDE = 4;
/** A fresh shard: 4 slots. Shards double when half full (linear probing stays short). */
const MIN_SLOTS = 4;

export interface HashIndex<V> {
  gen: number;
  /** Each shard: `[hash, tag, key, value, ...]`, a power of two of slots. */
  shards: Array<Array<number | string | V>>;
  /**
   * Generation that created each shard (a shard of the writer's generation is changed in place)
   * and used slots per shard; writer side. Typed arrays: copied per version without adding to
   * what the next scavenge has to move.
   */
  shardGen: Int32Array;
  counts: Int32Array;
}

type Shard<V> = Array<number | string | V>;

function emptyShard<V>(slots: number): Shard<V> {
  const a = new Array<number | string | V>(slots * STRIDE);
  for (let i = 0; i < a.length; i += STRIDE) {
    // one elements kind for every slot: numbers, strings and objects, never holes
    a[i] = EMPTY;
    a[i + 1] = 0;
    a[i + 2] = '';
    a[i + 3] = 0;
  }
  return a;
}

/** A new table: every shard is one shared empty shard, copied on its first write. */
export function newHashIndex<V>(gen: number): HashIndex<V> {
  const empty = emptyShard<V>(MIN_SLOTS);
  return { gen, shards: new Array(SHARD_MASK + 1).fill(empty), shardGen: new Int32Array(SHARD_MASK + 1).fill(-1),
    counts: new Int32Array(SHARD_MASK + 1) };
}

export function ownIndex<V>(ix: HashIndex<V>, gen: number): HashIndex<V> {
  if (ix.gen === gen) return ix;
  return { gen, shards: ix.shards.slice(), shardGen: ix.shardGen.slice(), counts: ix.counts.slice() };
}

/** First element index to probe for `hash` in a shard of `length` elements (readers inline this). */
export function homeSlot(length: number, hash: number): number {
  return ((hash >>> SHARD_BITS) * STRIDE) & (length - 1);
}

function ownShard<V>(ix: HashIndex<V>, s: number): Shard<V> {
  if (ix.shardGen[s] !== ix.gen) {
    ix.shards[s] = ix.shards[s].slice();
    ix.shardGen[s] = ix.gen;
  }
  return ix.shards[s];
}

/** The slot (element index) holding `key` under `hash` and `tag`, or -1. */
export function findSlot<V>(ix: HashIndex<V>, hash: number, tag: number, key: string): number {
  const shard = ix.shards[hash & SHARD_MASK];
  const mask = shard.length - 1;
  for (let i = homeSlot(shard.length, hash); shard[i] !== EMPTY; i = (i + STRIDE) & mask) {
    if (shard[i] === hash && shard[i + 1] === tag && shard[i + 2] === key) return i;
  }
  return -1;
}

export function getAt<V>(ix: HashIndex<V>, hash: number, slot: number): V {
  return ix.shards[hash & SHARD_MASK][slot + 3] as V;
}

/** Replaces the value at a slot found by `findSlot` (the index must be owned). */
export function replaceAt<V>(ix: HashIndex<V>, hash: number, slot: number, value: V): void {
  ownShard(ix, hash & SHARD_MASK)[slot + 3] = value;
}

/** Adds `key` under `hash` and `tag` (the caller checked it is not there yet). */
export function addValue<V>(ix: HashIndex<V>, hash: number, tag: number, key: string, value: V): void {
  const s = hash & SHARD_MASK;
  let shard = ownShard(ix, s);
  if ((ix.counts[s] + 1) * 2 * STRIDE > shard.length) shard = ix.shards[s] = rehash(shard, (shard.length / STRIDE) * 2);
  const mask = shard.length - 1;
  let i = homeSlot(shard.length, hash);
  while (shard[i] !== EMPTY) i = (i + STRIDE) & mask;
  shard[i] = hash;
  shard[i + 1] = tag;
  shard[i + 2] = key;
  shard[i + 3] = value;
  ix.counts[s]++;
}

function rehash<V>(old: Shard<V>, slots: number): Shard<V> {
  const shard = emptyShard<V>(slots);
  const mask = shard.length - 1;
  for (let j = 0; j < old.length; j += STRIDE) {
    const h = old[j] as number;
    if (h === EMPTY) continue;
    let i = homeSlot(shard.length, h);
    while (shard[i] !== EMPTY) i = (i + STRIDE) & mask;
    for (let f = 0; f < STRIDE; f++) shard[i + f] = old[j + f];
  }
  return shard;
}

/** Removes the slot found by `findSlot`, shifting later slots of its run back. */
export function removeAt<V>(ix: HashIndex<V>, hash: number, slot: number): void {
  const s = hash & SHARD_MASK;
  const shard = ownShard(ix, s);
  const mask = shard.length - 1;
  let hole = slot;
  for (let i = (hole + STRIDE) & mask; shard[i] !== EMPTY; i = (i + STRIDE) & mask) {
    const home = homeSlot(shard.length, shard[i] as number);
    // The slot at i may move into the hole unless its home lies cyclically in (hole, i].
    const between = hole <= i ? home > hole && home <= i : home > hole || home <= i;
    if (between) continue;
    for (let f = 0; f < STRIDE; f++) shard[hole + f] = shard[i + f];
    hole = i;
  }
  shard[hole] = EMPTY;
  shard[hole + 1] = 0;
  shard[hole + 2] = '';
  shard[hole + 3] = 0;
  ix.counts[s]--;
  // Shrink a shard that emptied out, so a table that grew and was cleared gives memory back.
  const slots = shard.length / STRIDE;
  if (ix.counts[s] * 8 < slots && slots > MIN_SLOTS) ix.shards[s] = rehash(shard, slots / 2);
}

export function indexSize<V>(ix: HashIndex<V>): number {
  let n = 0;
  for (const c of ix.counts) n += c;
  return n;
}

/** Every `[hash, value]` (tests and rebuilding the Bloom filter). */
export function* indexValues<V>(ix: HashIndex<V>): Generator<[number, V]> {
  for (const shard of ix.shards) {
    for (let i = 0; i < shard.length; i += STRIDE) if (shard[i] !== EMPTY) yield [shard[i] as number, shard[i + 3] as V];
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
