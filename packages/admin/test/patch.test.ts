import './helpers/quiet-logs';
import type { Harness } from './helpers/admin-harness';
import { STORE_KINDS, startHarnessOn } from './helpers/stores';
import { mergePatch, patchAtPath } from '../src/patch';

const BASE = '/apisix/admin';
const upstream = { nodes: { 'a.example.com:80': 1 } };

describe('mergePatch / patchAtPath (SPEC §3.3)', () => {
  it('merges objects, deletes on null, replaces arrays and scalars, and never modifies its input', () => {
    const target = { a: { b: 1, c: [1, 2], d: { e: 1 } }, f: 'x', g: [{ h: 1 }] };
    const frozen = JSON.stringify(target);
    expect(mergePatch(target, { a: { b: null, c: [3], d: { z: 2 } }, f: null, g: [], n: { m: null, k: 1 } })).toEqual({
      a: { c: [3], d: { e: 1, z: 2 } }, g: [], n: { k: 1 },
    });
    expect(JSON.stringify(target)).toBe(frozen);
  });

  it('keeps a "__proto__" key as data instead of changing an object\'s prototype', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}, "x": {"__proto__": {"y": 1}}}');
    const out = mergePatch({}, patch) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'x']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const set = patchAtPath({}, ['__proto__', 'polluted'], true);
    expect(Object.getPrototypeOf(set)).toBe(Object.prototype);
    expect(Object.hasOwn(set, '__proto__')).toBe(true);
  });

  it('sets a sub-path, creating objects on the way, and refuses to step through a non-object', () => {
    expect(patchAtPath({ a: 1 }, ['b', 'c'], [1])).toEqual({ a: 1, b: { c: [1] } });
    expect(patchAtPath({ a: 1, b: 2 }, ['b'], null)).toEqual({ a: 1 });
    expect(() => patchAtPath({ a: 'text' }, ['a', 'b'], 1)).toThrow('invalid sub-path: /a');
    expect(() => patchAtPath({ a: { b: [1] } }, ['a', 'b', 'c', 'd'], 1)).toThrow('invalid sub-path: /a/b');
    expect(() => patchAtPath({}, ['a', '', 'b'], 1)).toThrow('invalid sub-path: /a//b');
  });
});

describe.each(STORE_KINDS)('PATCH over HTTP, on the %s store', (storeKind) => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarnessOn(storeKind, 'patch');
  });
  afterAll(() => h?.close());

  it('answers an invalid sub-path or an invalid merged value with 400 and changes nothing', async () => {
    await h.call('PUT', `${BASE}/routes/p`, { uri: '/p', upstream, name: 'n' });
    const before = await h.store.get('/apisix/routes/p');
    for (const [path, body, msg] of [
      ['/routes/p/name/x', '1', 'invalid sub-path: /name'],
      ['/routes/p/uri', '5', 'invalid configuration: property "uri" validation failed: wrong type: expected string, got number'],
      ['/routes/p', { uri: null }, 'invalid configuration: property "uri" is required (or "uris")'],
      ['/routes/p', { upstream: null }, 'invalid configuration: at least one of plugins, upstream, upstream_id or service_id is required'],
      ['/routes/p', { uris: ['/a'] }, 'invalid configuration: only one of uri and uris is allowed'],
      ['/routes/p/upstream/type', '"chash"', 'missing key'],
      ['/routes/p/id', '"other"', 'wrong route id'],
    ] as const) {
      const r = await h.call('PATCH', `${BASE}${path}`, body);
      expect([path, r.status, r.json]).toEqual([path, 400, { error_msg: msg }]);
    }
    expect(await h.store.get('/apisix/routes/p')).toEqual(before);
  });

  it('lets a merge remove fields with null, and restores the id if a merge removes it', async () => {
    const r = await h.call('PATCH', `${BASE}/routes/p`, { name: null, id: null, desc: 'd' });
    expect(r.status).toBe(200);
    expect(r.json.value).toEqual({ id: 'p', uri: '/p', upstream, desc: 'd', create_time: expect.any(Number), update_time: expect.any(Number) });
  });

  it('50 concurrent PATCHes: each is 200 or 503 "value changed before overwritten", and no accepted change is lost', async () => {
    await h.call('PUT', `${BASE}/routes/contended`, { uri: '/c', upstream, labels: { base: 'yes' } });
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      h.call('PATCH', `${BASE}/routes/contended`, { labels: { [`k${i}`]: `v${i}` } })));
    const accepted: string[] = [];
    replies.forEach((r, i) => {
      if (r.status === 200) {
        accepted.push(`k${i}`);
        expect(r.json.value.labels[`k${i}`]).toBe(`v${i}`);
        expect(r.headers.get('x-config-revision')).toMatch(/^\d+$/);
      } else {
        expect([r.status, r.json]).toEqual([503, { error_msg: 'value changed before overwritten' }]);
        expect(r.headers.get('x-config-revision')).toBeNull();
      }
    });
    expect(accepted.length).toBeGreaterThan(0);
    // Every accepted PATCH wrote a distinct revision: none overwrote another blindly.
    const revisions = replies.filter((r) => r.status === 200).map((r) => r.headers.get('x-config-revision'));
    expect(new Set(revisions).size).toBe(accepted.length);
    const final = await h.call('GET', `${BASE}/routes/contended`);
    expect(Object.keys(final.json.value.labels).sort()).toEqual(['base', ...accepted].sort());
  });

  it('sequential PATCHes all land (the 503 is only for a real race)', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await h.call('PATCH', `${BASE}/routes/contended/labels/seq${i}`, '"x"')).status).toBe(200);
    }
    const labels = (await h.call('GET', `${BASE}/routes/contended`)).json.value.labels;
    expect(['seq0', 'seq1', 'seq2', 'seq3', 'seq4'].every((k) => labels[k] === 'x')).toBe(true);
  });
});
