/**
 * A Map bounded to `max` entries that forgets the least recently used one first. A Map keeps
 * insertion order, so "use" re-inserts the key at the end and the first key is the eviction
 * victim: O(1) per operation without a linked list.
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly max: number) {
    if (!(max >= 1)) throw new RangeError('LruMap max must be >= 1');
  }

  get size(): number {
    return this.map.size;
  }

  /** Returns the value and marks it most recently used. */
  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /** Returns the value without changing its recency. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Inserts or replaces (as most recently used); returns the evicted entry, if any. */
  set(key: K, value: V): [K, V] | undefined {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size <= this.max) return undefined;
    const oldest = this.map.entries().next().value as [K, V];
    this.map.delete(oldest[0]);
    return oldest;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
