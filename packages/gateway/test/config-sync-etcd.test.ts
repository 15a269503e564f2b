import './helpers/quiet-logs';
import { EtcdStore } from '@portico/core';
import { startEtcd, waitFor, type EtcdProcess } from '@portico/testkit';
import { ConfigSync, type ResourceChange } from '../src/config/config-sync';

// ConfigSync against a real etcd: the store restarts under a live watch (the stream is lost,
// onReset fires), and the node keeps its tables while etcd is down, then re-ranges and
// converges without losing or double-applying a change.

const P = '/apisix';
const route = (uri: string) => JSON.stringify({ uri, upstream: { nodes: { '127.0.0.1:1980': 1 } } });

describe('ConfigSync against etcd', () => {
  let etcd: EtcdProcess;
  let store: EtcdStore;
  let sync: ConfigSync;
  const applied: string[] = [];

  beforeAll(async () => {
    etcd = await startEtcd({ name: 'gw-sync' });
    store = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 2 });
  });
  afterAll(async () => {
    await sync?.stop();
    await store?.close();
    await etcd?.stop();
  });

  it('survives an etcd crash and restart under a live watch', async () => {
    await store.put(`${P}/routes/1`, route('/one'));
    await store.put(`${P}/routes/2`, route('/two'));
    sync = new ConfigSync({ store, prefix: P, backoff: { initialMs: 50, maxMs: 500 } });
    sync.subscribe((changes: readonly ResourceChange[]) => {
      for (const c of changes) applied.push(c.type === 'put' ? `put ${c.item.key}@${c.item.modRevision}` : `delete ${c.key}`);
    });
    sync.start();
    await waitFor(() => sync.connected, { what: 'watching etcd' });
    const kept = sync.get(`${P}/routes/2`);

    await etcd.kill();
    await waitFor(() => !sync.connected, { what: 'watch loss noticed', timeoutMs: 30_000 });
    // still serving what it had
    expect(sync.get(`${P}/routes/1`)?.value).toMatchObject({ uri: '/one' });
    expect(sync.ready).toBe(true);

    await etcd.restart();
    const changed = await waitFor(() => store.put(`${P}/routes/1`, route('/one-v2')), { what: 'etcd writable again', timeoutMs: 30_000 });
    const del = await store.delete(`${P}/routes/3-never-existed`);
    const added = await store.put(`${P}/routes/3`, route('/three'));
    await waitFor(() => sync.connected && sync.appliedRevision >= added.revision, { what: 'converged', timeoutMs: 30_000 });

    expect(sync.get(`${P}/routes/1`)?.value).toMatchObject({ uri: '/one-v2' });
    expect(sync.get(`${P}/routes/3`)?.modRevision).toBe(added.revision);
    expect(sync.get(`${P}/routes/2`)).toBe(kept); // unchanged across the reset: same object
    expect(applied.filter((a) => a === `put ${P}/routes/1@${changed.revision}`)).toHaveLength(1);
    expect(applied.filter((a) => a.startsWith(`put ${P}/routes/3@`))).toEqual([`put ${P}/routes/3@${added.revision}`]);
    expect(del.deleted).toBe(0);
    expect(sync.resets).toBeGreaterThanOrEqual(1);

    // and it keeps following
    const later = await store.delete(`${P}/routes/2`);
    await waitFor(() => sync.appliedRevision >= later.revision, { what: 'delete after the restart' });
    expect(sync.get(`${P}/routes/2`)).toBeUndefined();
  });
});
