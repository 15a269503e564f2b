import './helpers/quiet-logs';
import { waitFor } from '@portico/testkit';
import { encryptFields, FieldCipher, type ConfigStore } from '@portico/core';
import { ConfigSync, type ResourceChange } from '../src/config/config-sync';
import { captureLogger } from './helpers/log-capture';
import { FlakyStore, tempEmbeddedStore } from './helpers/stores';

const P = '/apisix';
const route = (uri: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ uri, upstream: { nodes: { '127.0.0.1:1980': 1 } }, ...extra });

/** Every change the listener saw, as `put key@mod` / `delete key`. */
class Recorder {
  readonly log: string[] = [];
  readonly batches: Array<{ changes: readonly ResourceChange[]; revision: number }> = [];
  listener = (changes: readonly ResourceChange[], revision: number) => {
    this.batches.push({ changes, revision });
    for (const c of changes) this.log.push(c.type === 'put' ? `put ${c.item.key}@${c.item.modRevision}` : `delete ${c.key}`);
  };
  clear() {
    this.log.length = 0;
    this.batches.length = 0;
  }
}

describe('ConfigSync against the embedded store', () => {
  let store: Awaited<ReturnType<typeof tempEmbeddedStore>>['store'];
  let cleanup: () => Promise<void>;
  const syncs: ConfigSync[] = [];

  beforeEach(async () => {
    ({ store, cleanup } = await tempEmbeddedStore());
  });
  afterEach(async () => {
    for (const s of syncs.splice(0)) await s.stop();
    await cleanup();
  });

  function startSync(s: ConfigStore, extra: Partial<ConstructorParameters<typeof ConfigSync>[0]> = {}) {
    const sync = new ConfigSync({ store: s, prefix: P, backoff: { initialMs: 5, maxMs: 40 }, ...extra });
    const rec = new Recorder();
    sync.subscribe(rec.listener);
    syncs.push(sync);
    sync.start();
    return { sync, rec };
  }

  it('loads everything once, becomes ready, then follows the watch', async () => {
    await store.put(`${P}/routes/1`, route('/a'));
    await store.put(`${P}/upstreams/u1`, JSON.stringify({ nodes: { 'a:80': 1 } }));
    await store.put(`${P}/data_plane/nodes/n1`, JSON.stringify({ id: 'n1' })); // not a resource: ignored
    const { revision } = await store.range(P);
    const { sync, rec } = startSync(store);
    expect(sync.ready).toBe(false);
    await sync.whenReady();
    expect(sync.ready).toBe(true);
    expect(sync.appliedRevision).toBe(revision);
    expect(rec.batches).toHaveLength(1);
    expect(rec.log.sort()).toEqual([`put ${P}/routes/1@2`, `put ${P}/upstreams/u1@3`]);

    rec.clear();
    const put = await store.put(`${P}/routes/2`, route('/b'));
    const del = await store.delete(`${P}/routes/1`);
    await waitFor(() => sync.appliedRevision >= del.revision, { what: 'watch events applied' });
    expect(rec.log).toEqual([`put ${P}/routes/2@${put.revision}`, `delete ${P}/routes/1`]);
    expect(sync.get(`${P}/routes/1`)).toBeUndefined();
    expect(sync.get(`${P}/routes/2`)?.value).toMatchObject({ uri: '/b' });

    // the heartbeat key moves the revision but is no resource change
    const hb = await store.put(`${P}/data_plane/nodes/n1`, JSON.stringify({ id: 'n1', last_seen: 2 }));
    await waitFor(() => sync.appliedRevision === hb.revision, { what: 'heartbeat revision applied' });
    expect(rec.log).toHaveLength(2);
  });

  it('a late subscriber first receives what is held', async () => {
    await store.put(`${P}/routes/1`, route('/a'));
    const { sync } = startSync(store);
    await sync.whenReady();
    const late = new Recorder();
    sync.subscribe(late.listener);
    expect(late.log).toEqual([`put ${P}/routes/1@2`]);
  });

  it('skips invalid items with a log line naming the key and keeps the previous valid value', async () => {
    const cap = captureLogger();
    await store.put(`${P}/routes/1`, route('/v1'));
    await store.put(`${P}/routes/bad-json`, '{not json');
    await store.put(`${P}/routes/bad-schema`, JSON.stringify({ uri: '/x', upstream: { nodes: { a: 1 } }, nope: 1 }));
    const { sync, rec } = startSync(store, { logger: cap.logger });
    await sync.whenReady();
    expect(rec.log).toEqual([`put ${P}/routes/1@2`]);
    const skipped = cap.lines.filter((l) => l.level === 50).map((l) => l.key);
    expect(skipped).toEqual([`${P}/routes/bad-json`, `${P}/routes/bad-schema`]);
    expect(cap.text()).toContain('additional properties forbidden, found nope');

    // an invalid update leaves v1 in force; the rest of the batch still applies
    rec.clear();
    await store.put(`${P}/routes/1`, '[1,2]');
    await store.put(`${P}/routes/1`, JSON.stringify({ uri: 5 }));
    const ok = await store.put(`${P}/consumers/jack`, JSON.stringify({ username: 'jack' }));
    const mismatch = await store.put(`${P}/consumers/jill`, JSON.stringify({ username: 'jack' }));
    await waitFor(() => sync.appliedRevision >= mismatch.revision, { what: 'batch applied' });
    expect(rec.log).toEqual([`put ${P}/consumers/jack@${ok.revision}`]);
    expect(sync.get(`${P}/routes/1`)?.value).toMatchObject({ uri: '/v1' });
    const keys = cap.lines.filter((l) => l.level === 50).map((l) => l.key);
    expect(keys.slice(2)).toEqual([`${P}/routes/1`, `${P}/routes/1`, `${P}/consumers/jill`]);
    expect(cap.lines.filter((l) => l.key === `${P}/routes/1`).every((l) => l.keptPrevious === true)).toBe(true);

    // a later valid value applies again
    const v3 = await store.put(`${P}/routes/1`, route('/v3'));
    await waitFor(() => sync.get(`${P}/routes/1`)?.modRevision === v3.revision, { what: 'v3 applied' });
    expect(sync.get(`${P}/routes/1`)?.value).toMatchObject({ uri: '/v3' });
  });

  it('validates every kind with its schema (secrets per manager, credentials, services ...)', async () => {
    await store.put(`${P}/secrets/aws/a1`, JSON.stringify({ region: 'eu-west-1' }));
    await store.put(`${P}/secrets/nosuch/x`, JSON.stringify({}));
    await store.put(`${P}/consumers/jack/credentials/c1`, JSON.stringify({ plugins: { 'key-auth': { key: 'k' } } }));
    await store.put(`${P}/consumers/jack/credentials/c2`, JSON.stringify({ plugins: {} }));
    await store.put(`${P}/services/s1`, JSON.stringify({ upstream: { nodes: { 'a:80': 1 } } }));
    await store.put(`${P}/services/s2`, JSON.stringify({ upstream: { nodes: { 'a:80': 'heavy' } } }));
    // A secret manager's id in APISIX's stored form, and in the plain form older versions wrote.
    await store.put(`${P}/secrets/aws/a2`, JSON.stringify({ id: 'aws/a2', region: 'eu-west-1' }));
    await store.put(`${P}/secrets/aws/a3`, JSON.stringify({ id: 'a3', region: 'eu-west-1' }));
    const { sync, rec } = startSync(store);
    await sync.whenReady();
    expect(rec.log.sort()).toEqual([`put ${P}/consumers/jack/credentials/c1@4`, `put ${P}/secrets/aws/a1@2`, `put ${P}/secrets/aws/a2@8`,
      `put ${P}/secrets/aws/a3@9`, `put ${P}/services/s1@6`]);
  });

  it('decrypts fields encrypted at rest, and rejects them when it has no keyring', async () => {
    const cipher = new FieldCipher(['a-keyring-entry-of-32-characters']);
    const stored = encryptFields('consumers', { username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } }, cipher);
    expect(JSON.stringify(stored)).not.toContain('jack-key');
    await store.put(`${P}/consumers/jack`, JSON.stringify(stored));

    const { sync } = startSync(store, { cipher });
    await sync.whenReady();
    expect(sync.get(`${P}/consumers/jack`)?.value).toEqual({ username: 'jack', plugins: { 'key-auth': { key: 'jack-key' } } });

    const cap = captureLogger();
    const { sync: noKeys } = startSync(store, { logger: cap.logger });
    await noKeys.whenReady();
    expect(noKeys.get(`${P}/consumers/jack`)).toBeUndefined();
    const line = cap.lines.find((l) => l.key === `${P}/consumers/jack`);
    expect(String(line?.reason)).toMatch(/cannot decrypt field plugins.key-auth.key/);
    expect(cap.text()).not.toContain('jack-key');
  });

  it('after a lost stream and an outage: re-ranges, diffs, reuses unchanged objects, and resumes', async () => {
    const flaky = new FlakyStore(store);
    for (const id of ['1', '2', '3']) await store.put(`${P}/routes/${id}`, route(`/r${id}`));
    const { sync, rec } = startSync(flaky);
    await waitFor(() => sync.connected, { what: 'watching' });
    const kept = sync.get(`${P}/routes/3`);
    rec.clear();

    flaky.outage();
    await waitFor(() => !sync.connected && flaky.rangeCalls >= 3, { what: 'retries during the outage' });
    // changes made while the node cannot see the store, and history compacted past them
    const changed = await store.put(`${P}/routes/1`, route('/r1-new'));
    await store.delete(`${P}/routes/2`);
    const added = await store.put(`${P}/routes/4`, route('/r4'));
    store.compact(added.revision);
    // the node keeps serving what it had
    expect(sync.get(`${P}/routes/1`)?.value).toMatchObject({ uri: '/r1' });
    expect(sync.get(`${P}/routes/2`)).toBeDefined();
    expect(sync.ready).toBe(true);

    flaky.restore();
    await waitFor(() => sync.connected, { what: 'watch re-established' });
    expect(sync.appliedRevision).toBe(added.revision);
    expect(rec.log.sort()).toEqual([`delete ${P}/routes/2`, `put ${P}/routes/1@${changed.revision}`, `put ${P}/routes/4@${added.revision}`]);
    expect(sync.get(`${P}/routes/3`)).toBe(kept); // unchanged modRevision: the very same object
    expect(sync.resets).toBe(1);

    // the new watch continues from the new revision; nothing is applied twice
    rec.clear();
    const after = await store.put(`${P}/routes/5`, route('/r5'));
    await waitFor(() => sync.appliedRevision === after.revision, { what: 'post-reset event' });
    expect(rec.log).toEqual([`put ${P}/routes/5@${after.revision}`]);
  });

  it('a reset with nothing changed produces no changes', async () => {
    const flaky = new FlakyStore(store);
    await store.put(`${P}/routes/1`, route('/a'));
    const { sync, rec } = startSync(flaky);
    await waitFor(() => sync.connected, { what: 'watching' });
    rec.clear();
    flaky.breakWatch();
    await waitFor(() => sync.resets === 1 && sync.connected, { what: 're-watch' });
    expect(rec.log).toEqual([]);
    expect(flaky.rangeCalls).toBe(2);
  });

  it('recovers when the history it wants to watch from was compacted between range and watch', async () => {
    const flaky = new FlakyStore(store);
    await store.put(`${P}/routes/1`, route('/a'));
    let gapWrite = 0;
    flaky.beforeWatch = async () => {
      // lands after the consumer's range, before its watch; then history is compacted away
      gapWrite = (await store.put(`${P}/routes/1`, route('/in-the-gap'))).revision;
      await store.put(`${P}/routes/2`, route('/b'));
      const { revision } = await store.range(P);
      store.compact(revision);
    };
    const { sync, rec } = startSync(flaky);
    await waitFor(() => sync.resets === 1 && sync.connected, { what: 'reset by the real store, then re-watch' });
    expect(sync.get(`${P}/routes/1`)?.value).toMatchObject({ uri: '/in-the-gap' });
    expect(sync.get(`${P}/routes/2`)).toBeDefined();
    expect(rec.log.filter((l) => l === `put ${P}/routes/1@${gapWrite}`)).toHaveLength(1);
  });

  it('retries a store that is down at start and becomes ready when it returns', async () => {
    const flaky = new FlakyStore(store);
    flaky.down = true;
    await store.put(`${P}/routes/1`, route('/a'));
    const { sync } = startSync(flaky);
    await waitFor(() => flaky.rangeCalls >= 3, { what: 'range retries' });
    expect(sync.ready).toBe(false);
    expect(sync.lastError).toMatch(/unreachable/);
    flaky.restore();
    await sync.whenReady();
    expect(sync.get(`${P}/routes/1`)).toBeDefined();
  });

  it('stop() cancels the watch and later writes are not applied', async () => {
    const { sync } = startSync(store);
    await sync.whenReady();
    const rev = sync.appliedRevision;
    await sync.stop();
    // a second, live sync is the witness that the write has been delivered to watchers
    const { sync: witness } = startSync(store);
    await waitFor(() => witness.connected, { what: 'witness watching' });
    const w = await store.put(`${P}/routes/9`, route('/z'));
    await waitFor(() => witness.appliedRevision === w.revision, { what: 'witness saw the write' });
    expect(sync.appliedRevision).toBe(rev);
    expect(sync.get(`${P}/routes/9`)).toBeUndefined();
  });
});
