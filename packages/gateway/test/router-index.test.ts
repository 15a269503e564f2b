import fc from 'fast-check';
import {
  addValue, bloomAdd, bloomMayHave, findSlot, getAt, indexSize, indexValues, newBloom, newHashIndex, ownIndex, removeAt,
  replaceAt, SHARD_BITS, type HashIndex,
} from '../src/routing/exact-index';
import { Router, type MatchRequest } from '../src/routing/router';

interface V { key: number; n: number }

/** Keys 0..60 as the table sees them: a string and a tag (two tags share each string). */
const tagOf = (key: number) => key % 2;
const strOf = (key: number) => `k${key >> 1}`;

function get(ix: HashIndex<V>, hash: number, key: number): V | undefined {
  const at = findSlot(ix, hash, tagOf(key), strOf(key));
  return at < 0 ? undefined : getAt(ix, hash, at);
}

function contents(ix: HashIndex<V>): Map<number, number> {
  return new Map([...indexValues(ix)].map(([, v]) => [v.key, v.n]));
}

/**
 * The table against a Map, with hashes squeezed into few shards and few home slots, so probe
 * runs are long, wrap around the end of a shard, and deletions must shift pairs back.
 */
describe('path index (sharded linear-probing table)', () => {
  const hashOf = (key: number, spread: number) => ((key % spread) << SHARD_BITS) | ((key >> 1) % 2); // shards 0 and 1 only

  const opArb = fc.record({ key: fc.integer({ min: 0, max: 60 }), del: fc.boolean(), publish: fc.boolean() });

  it('agrees with a Map through adds, replaces and deletes, and never changes a published version', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 200 }), fc.integer({ min: 1, max: 9 }), (ops, spread) => {
      let gen = 1;
      let ix = newHashIndex<V>(gen);
      const model = new Map<number, number>();
      const published: Array<[HashIndex<V>, Map<number, number>]> = [];
      let n = 0;
      for (const o of ops) {
        const h = hashOf(o.key, spread);
        const at = findSlot(ix, h, tagOf(o.key), strOf(o.key));
        if (o.del) {
          if (at >= 0) removeAt(ix, h, at);
          model.delete(o.key);
        } else {
          const v = { key: o.key, n: ++n };
          if (at >= 0) replaceAt(ix, h, at, v);
          else addValue(ix, h, tagOf(o.key), strOf(o.key), v);
          model.set(o.key, v.n);
        }
        if (o.publish) {
          published.push([ix, new Map(model)]);
          ix = ownIndex(ix, ++gen);
        }
        for (let k = 0; k <= 60; k++) expect(get(ix, hashOf(k, spread), k)?.n).toBe(model.get(k));
        expect(indexSize(ix)).toBe(model.size);
      }
      for (const [old, snap] of published) expect(contents(old)).toEqual(snap);
    }), { numRuns: 300 });
  });

  it('grows a shard past its first size and shrinks it again when emptied', () => {
    const ix = newHashIndex<V>(1);
    for (let k = 0; k < 1000; k++) addValue(ix, k << SHARD_BITS, 0, `${k}`, { key: k, n: k });
    const grown = ix.shards[0].length;
    expect(grown).toBeGreaterThanOrEqual(2 * 4 * 1000); // at most half full, four elements a slot
    for (let k = 0; k < 1000; k++) expect(getAt(ix, k << SHARD_BITS, findSlot(ix, k << SHARD_BITS, 0, `${k}`)).n).toBe(k);
    for (let k = 0; k < 1000; k++) removeAt(ix, k << SHARD_BITS, findSlot(ix, k << SHARD_BITS, 0, `${k}`));
    expect(indexSize(ix)).toBe(0);
    expect(ix.shards[0].length).toBeLessThan(grown / 16);
  });
});

describe('Bloom filter', () => {
  it('never forgets a key it was given, across rebuild-sized loads', () => {
    const b = newBloom(10);
    let full = false;
    const keys = Array.from({ length: 5000 }, (_, i) => Math.imul(i + 1, 0x9e3779b1) & 0x3fffffff);
    for (const h of keys) full = !bloomAdd(b, h) || full;
    expect(full).toBe(true); // the caller is told to rebuild long before this many keys
    for (const h of keys) expect(bloomMayHave(b, h)).toBe(true);
  });

  it('answers "no" for most keys it was not given when sized for its keys', () => {
    const b = newBloom(4096);
    for (let i = 0; i < 4096; i++) bloomAdd(b, Math.imul(i + 1, 0x9e3779b1) & 0x3fffffff);
    let yes = 0;
    for (let i = 0; i < 10000; i++) if (bloomMayHave(b, Math.imul(i + 100_000, 0x85ebca6b) & 0x3fffffff)) yes++;
    expect(yes / 10000).toBeLessThan(0.05);
  });
});

/** Many routes, so the table's shards grow, shrink and the filter is rebuilt under the router. */
describe('Router at a few thousand routes', () => {
  const req = (path: string, host?: string): MatchRequest => ({ method: 'GET', path, host, remoteAddr: '10.0.0.1' });

  it('finds every route after a bulk load, after deleting half and after adding them back', () => {
    const r = new Router<string>();
    const n = 4000;
    const spec = (i: number) => i % 4 === 0 ? { id: `${i}`, paths: [`/s/${i}`], payload: `${i}` }
      : i % 4 === 1 ? { id: `${i}`, paths: [`/p/${i}/*`], payload: `${i}` }
        : i % 4 === 2 ? { id: `${i}`, paths: [`/u/${i}/:id/x`], payload: `${i}` }
          : { id: `${i}`, paths: [`/h/${i}*`], hosts: [i % 8 === 3 ? `*.w${i % 50}.com` : `h${i % 50}.com`], payload: `${i}` };
    const request = (i: number) => i % 4 === 0 ? req(`/s/${i}`) : i % 4 === 1 ? req(`/p/${i}/a/b`)
      : i % 4 === 2 ? req(`/u/${i}/7/x`) : req(`/h/${i}/z`, i % 8 === 3 ? `a.w${i % 50}.com` : `h${i % 50}.com`);
    r.batch(() => {
      for (let i = 0; i < n; i++) r.set(spec(i));
    });
    for (let i = 0; i < n; i++) expect([i, r.match(request(i))]).toEqual([i, `${i}`]);
    const before = r.snapshot();
    for (let i = 0; i < n; i += 2) r.delete(`${i}`); // one version per delete
    for (let i = 0; i < n; i++) expect([i, r.match(request(i))]).toEqual([i, i % 2 ? `${i}` : undefined]);
    for (let i = 0; i < n; i++) expect([i, before.match(request(i))]).toEqual([i, `${i}`]);
    for (let i = 0; i < n; i += 2) r.set(spec(i));
    for (let i = 0; i < n; i++) expect([i, r.match(request(i))]).toEqual([i, `${i}`]);
  });

  it('matches a method list by bits, and a method outside the known ones by name', () => {
    const r = new Router<string>();
    r.set({ id: 'odd', paths: ['/m'], methods: ['GET', 'PROPFIND'], payload: 'odd' });
    r.set({ id: 'fallback', paths: ['/m*'], payload: 'fallback' });
    expect(r.match({ ...req('/m'), method: 'GET' })).toBe('odd');
    expect(r.match({ ...req('/m'), method: 'PROPFIND' })).toBe('odd');
    expect(r.match({ ...req('/m'), method: 'POST' })).toBe('fallback');
    expect(r.match({ ...req('/m'), method: 'MKCOL' })).toBe('fallback');
  });
});
