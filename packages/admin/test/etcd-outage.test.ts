import './helpers/quiet-logs';
import { ConfigStore, EtcdStore, KeyValue, RESOURCE_KINDS, parseResourceKey, validateResource } from '@portico/core';
import { EtcdProcess, startEtcd, waitFor } from '@portico/testkit';
import { Harness, startHarness } from './helpers/admin-harness';

/**
 * SPEC §3.6 / §5.4 against a real etcd: while etcd is down (killed) or hung (SIGSTOP), every
 * admin call that needs the store answers 503 with a clear error_msg within the configured
 * timeout; once etcd is back nothing is half-written: after a crash the store holds exactly
 * what it held before, after a hang every write applied whole or not at all.
 */

const BASE = '/apisix/admin';
const TIMEOUT_SECONDS = 1;
/** EtcdStore's own timer fires at the deadline + 1 s; allow scheduling slack on top. */
const BOUND_MS = TIMEOUT_SECONDS * 1000 + 2500;
const upstream = { nodes: { 'a.example.com:80': 1 } };

/** One of every kind of call that reads or writes the store. */
const CALLS: Array<[string, string, unknown]> = [
  ['GET', '/routes', undefined],
  ['GET', '/routes?page=1&page_size=10&name=r', undefined],
  ['GET', '/routes/r1', undefined],
  ['GET', '/consumers/jack/credentials', undefined],
  ['PUT', '/routes/r1', { uri: '/changed', upstream }],
  ['PUT', '/routes/r2', { uri: '/new', upstream_id: 'u1' }],
  ['POST', '/routes', { uri: '/posted', upstream }],
  ['PATCH', '/routes/r1', { desc: 'patched' }],
  ['PATCH', '/routes/r1/uri', '"/sub"'],
  ['DELETE', '/routes/r1', undefined],
  ['DELETE', '/upstreams/u1', undefined],
  ['DELETE', '/upstreams/u1?force=true', undefined],
  ['PUT', '/consumers', { username: 'jill', plugins: { 'key-auth': { key: 'jill-key' } } }],
  ['PUT', '/consumers/jack/credentials/c2', { plugins: { 'key-auth': { key: 'jack-2' } } }],
  ['DELETE', '/consumers/jack', undefined],
  ['PUT', '/secrets/aws/s1', { region: 'eu-west-1' }],
  ['PUT', '/ssls', { id: 'x', cert: 'c', key: 'k' }], // invalid: answered 400 without the store
];

describe('admin API during an etcd outage (real etcd)', () => {
  let etcd: EtcdProcess;
  let store: ConfigStore;
  let h: Harness;
  let snapshot: KeyValue[];

  beforeAll(async () => {
    etcd = await startEtcd({ name: 'admin-outage' });
    store = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: TIMEOUT_SECONDS });
    h = await startHarness({ store });
    for (const [method, path, body] of [
      ['PUT', '/upstreams/u1', upstream],
      ['PUT', '/routes/r1', { uri: '/r1', upstream_id: 'u1' }],
      ['PUT', '/consumers', { username: 'jack' }],
      ['PUT', '/consumers/jack/credentials/c1', { plugins: { 'key-auth': { key: 'jack-1' } } }],
      ['PUT', '/secrets/aws/s1', { region: 'us-east-1' }],
    ] as const) {
      expect((await h.call(method, `${BASE}${path}`, body)).status).toBe(201);
    }
    snapshot = (await store.range('/apisix/')).items;
  });
  afterAll(async () => {
    await h?.close();
    await store?.close();
    await etcd?.stop();
  });

  /** Every call at once; each must be 503 (400 for the invalid one) within the bound. */
  async function expectAllUnavailable(): Promise<void> {
    const results = await Promise.all(CALLS.map(async ([method, path, body]) => {
      const started = Date.now();
      const r = await h.call(method, `${BASE}${path}`, body);
      return { method, path, r, ms: Date.now() - started };
    }));
    for (const { method, path, r, ms } of results) {
      const expected = path === '/ssls' ? 400 : 503;
      expect([method, path, r.status]).toEqual([method, path, expected]);
      if (expected === 503) {
        expect([method, path, r.json?.error_msg]).toEqual([method, path, expect.stringMatching(/^etcd unavailable/)]);
        expect(r.headers.get('x-config-revision')).toBeNull();
      }
      expect([method, path, ms < BOUND_MS]).toEqual([method, path, true]);
    }
  }

  async function waitUntilReachable(): Promise<void> {
    // A list, not one item: a DELETE sent during a hang may have removed any given item.
    await waitFor(async () => (await h.call('GET', `${BASE}/routes`)).status === 200, { timeoutMs: 20_000, what: 'the admin API to reach etcd again' });
  }

  /** etcd answers again and holds exactly the pre-outage items (same values and revisions). */
  async function expectRecoveredUnchanged(): Promise<void> {
    await waitUntilReachable();
    expect((await store.range('/apisix/')).items).toEqual(snapshot);
  }

  /**
   * After a hang the outcome of a write is unknown to the admin API: a request etcd received
   * before it froze is applied when it resumes, after the client was told 503 — true of any
   * client of any store with timeouts. What must hold is that each write applied whole or not
   * at all: every item is either as before or complete and valid, keys changed only where a
   * call aimed, and no credential outlived its consumer.
   */
  async function expectRecoveredConsistent(): Promise<void> {
    await waitUntilReachable();
    const after = (await store.range('/apisix/')).items;
    const before = new Map(snapshot.map((kv) => [kv.key, kv.value]));
    const targeted = new Set(CALLS.map(([, path]) => `/apisix${path.split('?')[0]}`));
    for (const kv of after) {
      const ref = parseResourceKey('/apisix', kv.key)!;
      expect([kv.key, ref !== undefined]).toEqual([kv.key, true]);
      const value = JSON.parse(kv.value);
      const { create_time: _c, update_time: _u, ...rest } = value;
      expect([kv.key, validateResource(RESOURCE_KINDS[ref.resource], rest, ref.manager).ok]).toEqual([kv.key, true]);
      if (before.get(kv.key) !== kv.value) {
        const posted = ref.resource === 'routes' && /^\d{20}$/.test(ref.id);
        expect([kv.key, posted || targeted.has(kv.key) || targeted.has(kv.key.replace(/\/[^/]+$/, ''))]).toEqual([kv.key, true]);
      }
      if (ref.resource === 'credentials') expect(after.some((c) => c.key === `/apisix/consumers/${ref.consumer}`)).toBe(true);
    }
    for (const key of before.keys()) {
      if (!after.some((kv) => kv.key === key)) {
        const deletedBy = CALLS.some(([m, path]) => m === 'DELETE' && (key === `/apisix${path.split('?')[0]}` || key.startsWith(`/apisix${path.split('?')[0]}/`)));
        expect([key, deletedBy]).toEqual([key, true]);
      }
    }
    snapshot = after;
  }

  it('answers 503 while etcd is stopped, and nothing is half-written once it is back', async () => {
    await etcd.kill();
    await expectAllUnavailable();
    // Endpoints that need no store keep working.
    expect((await h.call('GET', `${BASE}/plugins/list`)).status).toBe(200);
    await etcd.restart();
    await expectRecoveredUnchanged();
  });

  it('answers 503 within the timeout while etcd hangs (SIGSTOP); afterwards each write applied whole or not at all', async () => {
    etcd.pause();
    try {
      await expectAllUnavailable();
    } finally {
      etcd.resume();
    }
    await expectRecoveredConsistent();
  });

  it('works normally afterwards', async () => {
    const r = await h.call('PUT', `${BASE}/routes/r1`, { uri: '/r1', upstream });
    expect(r.status).toBeLessThan(300);
    const p = await h.call('PATCH', `${BASE}/routes/r1`, { desc: 'after the outage' });
    expect([p.status, p.json.value.desc]).toEqual([200, 'after the outage']);
    await h.call('PUT', `${BASE}/consumers`, { username: 'jack' });
    await h.call('PUT', `${BASE}/consumers/jack/credentials/c9`, { plugins: { 'key-auth': { key: 'jack-9' } } });
    const del = await h.call('DELETE', `${BASE}/consumers/jack`);
    expect(del.status).toBe(200);
    expect((await store.range('/apisix/consumers/jack')).items).toEqual([]);
  });
});
