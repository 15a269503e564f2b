/**
 * A persistent (copy-on-write) byte radix tree: the path index of one host group.
 *
 * Every node carries the generation that created it. A writer works in one generation: a node
 * of that generation is private to the writer and is changed in place; a node of an older
 * generation may be visible to readers, so it is copied first (`own`) and the copy is linked
 * into an owned parent. One change therefore copies only the nodes on its own path, and a
 * batch (a whole first load) copies nothing twice — it mutates what it already owns. Readers
 * hold a root of an older generation and never see the change until the new root is published.
 *
 * A node's key is the concatenation of the labels from the root. Two buckets hang on a node:
 *  - `exact`: slots whose whole path is the node's key;
 *  - `anchored`: slots whose path starts with the node's key and continues with a `*` (byte
 *    prefix) or with `:param` segments (checked by the slot's pattern on the rest of the path).
 */

export interface RadixNode<S> {
  gen: number;
  label: string;
  /** Length of the node's whole key; unchanged when edges above it are split or merged. */
  end: number;
  /**
   * Children as pairs `[firstCharCode, node, ...]` in one array, scanned linearly. At 100k
   * routes a match is bound by cache misses, not instructions: one array per hop touches far
   * less memory than a Map (or two parallel arrays).
   */
  kids: Array<number | RadixNode<S>> | undefined;
  exact: S[] | undefined;
  anchored: S[] | undefined;
}

export type BucketKind = 'exact' | 'anchored';

/** Every node has all fields (one hidden class keeps the match loop monomorphic). */
export function newNode<S>(gen: number, label: string, end: number): RadixNode<S> {
  return { gen, label, end, kids: undefined, exact: undefined, anchored: undefined };
}

/** The child whose label starts with char code `c`, if any. */
export function childAt<S>(node: RadixNode<S>, c: number): RadixNode<S> | undefined {
  const kids = node.kids;
  if (kids === undefined) return undefined;
  for (let k = 0; k < kids.length; k += 2) if (kids[k] === c) return kids[k + 1] as RadixNode<S>;
  return undefined;
}

function setChild<S>(node: RadixNode<S>, c: number, child: RadixNode<S>): void {
  const kids = (node.kids ??= []);
  for (let k = 0; k < kids.length; k += 2) {
    if (kids[k] === c) {
      kids[k + 1] = child;
      return;
    }
  }
  kids.push(c, child);
}

function deleteChild<S>(node: RadixNode<S>, c: number): void {
  const kids = node.kids!;
  for (let k = 0; k < kids.length; k += 2) {
    if (kids[k] === c) {
      kids.splice(k, 2);
      break;
    }
  }
  if (kids.length === 0) node.kids = undefined;
}

function childCount<S>(node: RadixNode<S>): number {
  return node.kids === undefined ? 0 : node.kids.length / 2;
}

/** The node itself when the writer owns it, else a shallow copy (buckets and child map copied). */
export function own<S>(node: RadixNode<S>, gen: number): RadixNode<S> {
  if (node.gen === gen) return node;
  return {
    gen,
    label: node.label,
    end: node.end,
    kids: node.kids?.slice(),
    exact: node.exact?.slice(),
    anchored: node.anchored?.slice(),
  };
}

function addToBucket<S>(node: RadixNode<S>, kind: BucketKind, slot: S, compare: (a: S, b: S) => number): void {
  const bucket = (node[kind] ??= []);
  // Buckets are short and sorted: insert in place (the node is owned).
  let i = bucket.length;
  while (i > 0 && compare(bucket[i - 1], slot) > 0) i--;
  bucket.splice(i, 0, slot);
}

function removeFromBucket<S>(node: RadixNode<S>, kind: BucketKind, slot: S): void {
  const bucket = node[kind];
  if (!bucket) return;
  const i = bucket.indexOf(slot);
  if (i >= 0) bucket.splice(i, 1);
  if (bucket.length === 0) node[kind] = undefined;
}

/** Inserts `slot` at `key` under an owned `node` (usually the root). */
export function insert<S>(node: RadixNode<S>, key: string, kind: BucketKind, slot: S, gen: number,
  compare: (a: S, b: S) => number): void {
  let i = 0;
  for (;;) {
    if (i === key.length) return addToBucket(node, kind, slot, compare);
    const c = key.charCodeAt(i);
    const child = childAt(node, c);
    if (!child) {
      const leaf = newNode<S>(gen, key.slice(i), key.length);
      addToBucket(leaf, kind, slot, compare);
      setChild(node, c, leaf);
      return;
    }
    const label = child.label;
    const max = Math.min(label.length, key.length - i);
    let l = 0;
    while (l < max && label.charCodeAt(l) === key.charCodeAt(i + l)) l++;
    if (l === label.length) {
      const next = own(child, gen);
      setChild(node, c, next);
      node = next;
      i += l;
      continue;
    }
    // The key leaves the edge part-way: split it with a node whose key is the common part.
    const mid = newNode<S>(gen, label.slice(0, l), i + l);
    const tail = own(child, gen);
    tail.label = label.slice(l);
    setChild(mid, tail.label.charCodeAt(0), tail);
    setChild(node, c, mid);
    node = mid;
    i += l;
  }
}

/**
 * Removes `slot` from `key` under an owned `node`, pruning nodes left empty and merging a
 * bucket-less node into its only child, so the tree stays as small as its contents.
 */
export function remove<S>(node: RadixNode<S>, key: string, kind: BucketKind, slot: S, gen: number, i = 0): void {
  if (i === key.length) return removeFromBucket(node, kind, slot);
  const c = key.charCodeAt(i);
  const child = childAt(node, c);
  if (!child || !key.startsWith(child.label, i)) return;
  const owned = own(child, gen);
  remove(owned, key, kind, slot, gen, i + child.label.length);
  if (!owned.exact && !owned.anchored) {
    const n = childCount(owned);
    if (n === 0) {
      deleteChild(node, c);
      return;
    }
    if (n === 1) {
      const only = own(owned.kids![1] as RadixNode<S>, gen);
      only.label = owned.label + only.label;
      setChild(node, c, only);
      return;
    }
  }
  setChild(node, c, owned);
}

export function isEmpty<S>(node: RadixNode<S>): boolean {
  return !node.exact && !node.anchored && !node.kids;
}

/** Counts nodes (tests and the benchmark use it to check the tree stays compact). */
export function countNodes<S>(node: RadixNode<S>): number {
  let n = 1;
  if (node.kids) for (let k = 1; k < node.kids.length; k += 2) n += countNodes(node.kids[k] as RadixNode<S>);
  return n;
}
