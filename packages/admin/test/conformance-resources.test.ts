import './helpers/quiet-logs';
import type { Harness } from './helpers/admin-harness';
import { applyMergePatch, setAtPath, without } from './helpers/json-model';
import { RESOURCE_FIXTURES, ResourceFixture } from './helpers/resource-fixtures';
import { STORE_KINDS, startHarnessOn } from './helpers/stores';

/**
 * SPEC §3, every row that applies to every resource, driven per resource by its fixture and
 * run on both stores (real etcd and the embedded store): the verbs of §3.1, ids (§3.2), writes
 * (§3.3), reads (§3.4), deletes (§3.5) and the common errors (§3.6). Rules specific to a few
 * resources (references, guards, duplicate keys, paging ...) are in conformance-rules.test.ts.
 */

const BASE = '/apisix/admin';
const INVALID_ID = 'invalid configuration: property "id" validation failed: object matches none of the required';
const OVER_LIMIT = 1572864 + 1;

type Row = [name: string, method: string, path: string, body: unknown, status: number, reply: unknown];

/** The exact error replies of SPEC §3.2/§3.3/§3.6 for one resource. */
function errorRows(f: ResourceFixture): Row[] {
  const coll = `${BASE}/${f.path}`;
  const [id] = f.ids;
  const item = `${coll}/${id}`;
  const body = f.body(id);
  const rows: Row[] = [
    ['schema failure', 'PUT', item, f.invalid[0], 400, { error_msg: f.invalid[1] }],
    ['invalid JSON', 'PUT', item, '{"a":', 400, { error_msg: 'invalid request body: Unexpected end of JSON input' }],
    ['no body', 'PUT', item, undefined, 400, { error_msg: 'missing configurations' }],
    ['body over 1.5 MiB', 'PUT', item, JSON.stringify({ desc: 'x'.repeat(OVER_LIMIT - 11) }), 400,
      { error_msg: `invalid request body: request size ${OVER_LIMIT} is greater than the maximum size 1572864 allowed` }],
    ['create_time sent', 'PUT', item, { ...body, create_time: 1 }, 400, { error_msg: 'the property is forbidden:  create_time' }],
    ['update_time sent', 'PUT', item, { ...body, update_time: 1 }, 400, { error_msg: 'the property is forbidden:  update_time' }],
    ['GET a missing item', 'GET', `${coll}/missing-item`, undefined, 404, { message: 'Key not found' }],
    ['DELETE a missing item', 'DELETE', `${coll}/missing-item`, undefined, 404, { message: 'Key not found' }],
    ['unsupported verb', 'OPTIONS', item, undefined, 405, { error_msg: `not supported \`OPTIONS\` method for ${f.kind}` }],
  ];
  if (f.identity === 'id') {
    rows.push(
      ['id mismatch', 'PUT', item, { ...body, id: 'other-id' }, 400, { error_msg: `wrong ${f.kind} id` }],
      ['no id anywhere', 'PUT', coll, body, 400, { error_msg: `missing ${f.kind} id` }],
      ['invalid path id', 'PUT', `${coll}/a%20b`, body, 400, { error_msg: INVALID_ID }],
      ['id too long', 'PUT', `${coll}/${'x'.repeat(65)}`, body, 400, { error_msg: INVALID_ID }],
      ['invalid body id', 'PUT', coll, { ...body, id: 0 }, 400, { error_msg: INVALID_ID }],
      ['DELETE without id', 'DELETE', coll, undefined, 400, { error_msg: `missing ${f.kind} id` }],
    );
  }
  if (f.identity === 'username') {
    rows.push(
      ['username mismatch', 'PUT', item, f.body('someone-else'), 400, { error_msg: 'wrong username' }],
      ['no username', 'PUT', coll, {}, 400, { error_msg: 'invalid configuration: property "username" is required' }],
      ['DELETE without username', 'DELETE', coll, undefined, 400, { error_msg: `missing ${f.kind} id` }],
    );
  }
  if (f.identity === 'plugin') {
    rows.push(
      ['unknown plugin', 'PUT', `${coll}/no-such-plugin`, body, 400, { error_msg: 'invalid plugin name' }],
      ['no plugin name', 'PUT', coll, body, 400, { error_msg: 'missing plugin name' }],
      ['DELETE without plugin name', 'DELETE', coll, undefined, 400, { error_msg: 'missing plugin name' }],
    );
  }
  if (f.verbs.has('POST')) {
    rows.push(
      ['POST with a body id', 'POST', coll, { ...body, id: 'x' }, 400, { error_msg: `wrong ${f.kind} id, do not need it` }],
      ['POST to an item', 'POST', item, body, 400, { error_msg: `wrong ${f.kind} id, do not need it` }],
      ['POST without body', 'POST', coll, undefined, 400, { error_msg: 'missing configurations' }],
      ['POST with create_time', 'POST', coll, { ...body, create_time: 5 }, 400, { error_msg: 'the property is forbidden:  create_time' }],
    );
  } else {
    rows.push(['POST unsupported', 'POST', coll, body, 405, { error_msg: `not supported \`POST\` method for ${f.kind}` }]);
  }
  if (f.verbs.has('PATCH')) {
    rows.push(
      ['PATCH a missing item', 'PATCH', `${coll}/missing-item`, { desc: 'x' }, 404, { message: 'Key not found' }],
      ['PATCH without id', 'PATCH', coll, { desc: 'x' }, 400, { error_msg: f.patchWithoutId ?? `missing ${f.kind} id` }],
      ['PATCH without body', 'PATCH', item, undefined, 400, { error_msg: 'missing new configuration' }],
      ['PATCH with a non-object', 'PATCH', item, '[1]', 400, { error_msg: 'invalid configuration: wrong type: expected object, got array' }],
    );
  } else {
    rows.push(['PATCH unsupported', 'PATCH', item, { desc: 'x' }, 405, { error_msg: `not supported \`PATCH\` method for ${f.kind}` }]);
  }
  return rows;
}

describe.each(STORE_KINDS)('SPEC §3 per resource, on the %s store', (storeKind) => {
  let h: Harness;
  let clock = 1_700_000_000;

  beforeAll(async () => {
    h = await startHarnessOn(storeKind, 'conformance-resources', { now: () => clock });
  });
  afterAll(() => h?.close());

  /** The store revision: a rejected request must leave it where it was. */
  const revision = async () => (await h.store.range('/apisix/')).revision;
  const revisionHeader = (r: { headers: Headers }) => Number(r.headers.get('x-config-revision'));

  describe.each(RESOURCE_FIXTURES.map((f) => [f.path, f] as const))('%s', (_path, f) => {
    const coll = `${BASE}/${f.path}`;
    const key = (id: string) => `/apisix/${f.path}/${id}`;
    /** What a reply shows for an item written from `body` at `created`/`updated`. */
    const shown = (id: string, body: Record<string, unknown>, created: number, updated: number) =>
      without({ ...body, ...(f.identity === 'username' ? {} : { id: f.storedId?.(id) ?? id }), create_time: created, update_time: updated }, f.hidden ?? []);

    beforeAll(async () => {
      for (const [method, path, body] of f.setup ?? []) expect((await h.call(method, path, body)).status).toBeLessThan(300);
    });

    it('PUT creates (201) and replaces (200) keeping create_time; GET one and the list show it; DELETE removes it', async () => {
      const [id] = f.ids;
      const body = f.body(id);
      clock = 1_700_000_000;
      const created = await h.call('PUT', `${coll}/${id}`, body);
      expect([created.status, created.json]).toEqual([201, { key: key(id), value: shown(id, body, clock, clock) }]);
      expect(created.headers.get('x-api-version')).toBe('v3');
      const rev1 = revisionHeader(created);
      expect(rev1).toBeGreaterThan(0);

      clock += 60;
      const replaced = await h.call('PUT', `${coll}/${id}`, { ...body, ...f.change });
      expect([replaced.status, replaced.json]).toEqual([200, { key: key(id), value: shown(id, { ...body, ...f.change }, clock - 60, clock) }]);
      const rev2 = revisionHeader(replaced);
      expect(rev2).toBeGreaterThan(rev1);

      const one = await h.call('GET', `${coll}/${id}`);
      expect([one.status, one.json]).toEqual([200, { key: key(id), value: replaced.json.value, createdIndex: rev1, modifiedIndex: rev2 }]);
      const list = await h.call('GET', coll);
      expect(list.status).toBe(200);
      expect(list.json).toEqual({ list: [{ key: key(id), value: replaced.json.value, createdIndex: rev1, modifiedIndex: rev2 }], total: 1 });

      const deleted = await h.call('DELETE', `${coll}/${id}`);
      expect([deleted.status, deleted.json]).toEqual([200, { deleted: '1', key: key(id) }]);
      expect(revisionHeader(deleted)).toBeGreaterThan(rev2);
      expect((await h.call('GET', `${coll}/${id}`)).json).toEqual({ message: 'Key not found' });
      expect((await h.call('GET', coll)).json).toEqual({ list: [], total: 0 });
    });

    it('PUT on the collection names the item by the body', async () => {
      const id = f.ids[1];
      const body = f.identity === 'username' ? f.body(id) : { ...f.body(id), id };
      const r = await h.call('PUT', coll, body);
      expect([r.status, r.json.key]).toEqual([201, key(id)]);
      expect(r.json.value).toEqual(shown(id, f.body(id), clock, clock));
      expect((await h.call('DELETE', `${coll}/${id}`)).status).toBe(200);
    });

    if (f.verbs.has('POST')) {
      it('POST creates items with increasing 20-digit ids', async () => {
        const first = await h.call('POST', coll, f.body('x'));
        const second = await h.call('POST', coll, f.body('x'));
        for (const r of [first, second]) {
          expect(r.status).toBe(201);
          expect(r.json.value.id).toMatch(/^\d{20}$/);
          expect(r.json).toEqual({ key: key(r.json.value.id), value: shown(r.json.value.id, f.body('x'), clock, clock) });
          expect(revisionHeader(r)).toBeGreaterThan(0);
          expect((await h.call('GET', `${coll}/${r.json.value.id}`)).status).toBe(200);
        }
        expect(second.json.value.id > first.json.value.id).toBe(true);
        for (const r of [first, second]) expect((await h.call('DELETE', `${coll}/${r.json.value.id}`)).status).toBe(200);
      });
    }

    if (f.patch) {
      const patch = f.patch;
      it('PATCH merges the body, and PATCH on a sub-path sets one field; both keep create_time', async () => {
        const [id] = f.ids;
        clock = 1_700_000_000;
        const created = await h.call('PUT', `${coll}/${id}`, f.body(id));
        const base = { ...f.body(id), id };

        clock += 10;
        const merged = await h.call('PATCH', `${coll}/${id}`, patch.body);
        const afterMerge = applyMergePatch(base, patch.body) as Record<string, unknown>;
        expect([merged.status, merged.json]).toEqual([200, { key: key(id), value: shown(id, afterMerge, clock - 10, clock) }]);
        expect(revisionHeader(merged)).toBeGreaterThan(revisionHeader(created));

        clock += 10;
        // A string body is sent as is: the sub-path value goes out as JSON text.
        const sub = await h.call('PATCH', `${coll}/${id}/${patch.subPath}`, JSON.stringify(patch.subValue));
        const afterSub = setAtPath(afterMerge, patch.subPath, patch.subValue);
        expect([sub.status, sub.json]).toEqual([200, { key: key(id), value: shown(id, afterSub, clock - 20, clock) }]);
        expect(revisionHeader(sub)).toBeGreaterThan(revisionHeader(merged));

        const stored = await h.call('GET', `${coll}/${id}`);
        expect(stored.json.value).toEqual(sub.json.value);
        // Hidden fields (an ssl's key) are kept in the store through a PATCH, only not shown.
        for (const field of f.hidden ?? []) {
          expect(JSON.parse((await h.store.get(key(id)))!.value)[field]).toBe((f.body(id) as Record<string, unknown>)[field]);
        }

        const bad = await h.call('PATCH', `${coll}/${id}`, { ...patch.body, no_such_field: 1 });
        expect([bad.status, bad.json]).toEqual([400, { error_msg: 'invalid configuration: additional properties forbidden, found no_such_field' }]);
        const wrongId = await h.call('PATCH', `${coll}/${id}`, { id: 'another' });
        expect([wrongId.status, wrongId.json]).toEqual([400, { error_msg: `wrong ${f.kind} id` }]);
        expect((await h.call('GET', `${coll}/${id}`)).json.value).toEqual(sub.json.value);
        expect((await h.call('DELETE', `${coll}/${id}`)).status).toBe(200);
      });
    }

    it.each(errorRows(f))('%s: %s %s (%#) → status and reply exact, nothing written', async (_name, method, path, body, status, reply) => {
      const before = await revision();
      const r = await h.call(method, path, body);
      expect([r.status, r.json]).toEqual([status, reply]);
      expect(r.headers.get('x-config-revision')).toBeNull();
      expect(await revision()).toBe(before);
    });
  });

  it.each(['nope', 'route', 'stream_routes', 'credentials', 'protos'])('an unknown resource "%s" is 404 for every verb', async (res) => {
    for (const method of ['GET', 'PUT', 'POST', 'PATCH', 'DELETE']) {
      const r = await h.call(method, `${BASE}/${res}/1`, method === 'GET' || method === 'DELETE' ? undefined : { a: 1 });
      expect([method, r.status, r.json]).toEqual([method, 404, { error_msg: `Unsupported resource type: ${res}` }]);
    }
  });
});
