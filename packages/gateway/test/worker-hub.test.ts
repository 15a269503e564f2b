import './helpers/quiet-logs';
import { waitFor } from '@portico/testkit';
import { SecretResolver } from '@portico/secrets';
import { ConfigSync } from '../src/config/config-sync';
import { RemoteConfig, WorkerHub, type Channel, type ToPrimary, type ToWorker } from '../src';
import { tempEmbeddedStore } from './helpers/stores';

/**
 * WorkerHub ↔ RemoteConfig in one process over an in-memory channel pair (asynchronous, in
 * order, like IPC). The OS-process version is packages/cli/test/workers.test.ts.
 */
const P = '/apisix';
const route = (uri: string) => JSON.stringify({ uri, upstream: { nodes: { '127.0.0.1:1980': 1 } } });

function channelPair(): { primary: Channel<ToWorker, ToPrimary> & { paused: boolean }; worker: Channel<ToPrimary, ToWorker> } {
  const toWorker = new Set<(m: ToWorker) => void>();
  const toPrimary = new Set<(m: ToPrimary) => void>();
  const held: ToPrimary[] = [];
  const primary = {
    paused: false,
    send: (m: ToWorker) => setImmediate(() => { for (const h of toWorker) h(structuredClone(m)); }),
    onMessage: (h: (m: ToPrimary) => void) => { toPrimary.add(h); return () => toPrimary.delete(h); },
  };
  const worker = {
    send: (m: ToPrimary) => setImmediate(() => {
      // a paused worker's reports are held back (a slow worker), in order
      if (primary.paused) { held.push(structuredClone(m)); return; }
      for (const x of held.splice(0)) for (const h of toPrimary) h(x);
      for (const h of toPrimary) h(structuredClone(m));
    }),
    onMessage: (h: (m: ToWorker) => void) => { toWorker.add(h); return () => toWorker.delete(h); },
  };
  return { primary, worker };
}

describe('WorkerHub and RemoteConfig', () => {
  let store: Awaited<ReturnType<typeof tempEmbeddedStore>>['store'];
  let cleanup: () => Promise<void>;
  let sync: ConfigSync;
  let hub: WorkerHub;

  beforeEach(async () => {
    ({ store, cleanup } = await tempEmbeddedStore());
    sync = new ConfigSync({ store, prefix: P });
    hub = new WorkerHub({ sync, resolver: new SecretResolver({ ttlSeconds: 60, negTtlSeconds: 5, maxEntries: 10 }), statusPollMs: 20 });
    hub.start();
  });
  afterEach(async () => {
    hub.stop();
    await sync.stop();
    await cleanup();
  });

  it('a worker gets every held item, then each batch in order, and is ready with the primary', async () => {
    await store.put(`${P}/routes/1`, route('/a'));
    sync.start();
    await sync.whenReady();
    const { primary, worker } = channelPair();
    hub.attach(primary);
    const remote = new RemoteConfig(worker);
    const seen: string[] = [];
    remote.subscribe((changes) => { for (const c of changes) seen.push(c.type === 'put' ? `put ${c.item.ref.id} ${(c.item.value as { uri: string }).uri}` : `delete ${c.ref.id}`); });
    remote.start();
    await remote.whenReady();
    expect(seen).toEqual(['put 1 /a']);
    expect(remote.appliedRevision).toBe(sync.appliedRevision);

    await store.put(`${P}/routes/2`, route('/b'));
    await store.delete(`${P}/routes/1`);
    await store.put(`${P}/routes/2`, route('/c'));
    await waitFor(() => remote.appliedRevision === sync.appliedRevision && sync.appliedRevision > 0 && seen.length === 4, { what: 'the batches' });
    expect(seen).toEqual(['put 1 /a', 'put 2 /b', 'delete 1', 'put 2 /c']);
    expect(remote.connected).toBe(true);
  });

  it('servedRevision is the lowest revision the workers report, not the primary\'s', async () => {
    sync.start();
    await sync.whenReady();
    const a = channelPair();
    const b = channelPair();
    hub.attach(a.primary);
    hub.attach(b.primary);
    const ra = new RemoteConfig(a.worker);
    const rb = new RemoteConfig(b.worker);
    const served: number[] = [];
    hub.onServed((r) => served.push(r));
    ra.start();
    rb.start();
    await Promise.all([ra.whenReady(), rb.whenReady()]);

    await store.put(`${P}/routes/1`, route('/a'));
    const r1 = (await store.range(P)).revision;
    await waitFor(() => hub.servedRevision === r1, { what: 'both workers to report r1' });

    b.primary.paused = true; // worker b applies but its reports are late
    await store.put(`${P}/routes/2`, route('/b'));
    const r2 = (await store.range(P)).revision;
    await waitFor(() => ra.appliedRevision === r2 && rb.appliedRevision === r2, { what: 'both workers to apply r2' });
    await new Promise((r) => setImmediate(r));
    expect(sync.appliedRevision).toBe(r2);
    expect(hub.servedRevision).toBe(r1); // b has not said so yet
    b.primary.paused = false;
    await store.put(`${P}/routes/3`, route('/c')); // b's next report flushes the held ones
    await waitFor(() => hub.servedRevision > r2, { what: 'b to catch up' });
    expect(served[served.length - 1]).toBe(hub.servedRevision);
  });

  it('a detached worker no longer holds servedRevision back', async () => {
    sync.start();
    await sync.whenReady();
    const a = channelPair();
    const b = channelPair();
    hub.attach(a.primary);
    const detachB = hub.attach(b.primary);
    const ra = new RemoteConfig(a.worker);
    ra.start(); // b never says hello: it reports nothing
    await ra.whenReady();
    await store.put(`${P}/routes/1`, route('/a'));
    await waitFor(() => ra.appliedRevision === sync.appliedRevision, { what: 'a to apply' });
    expect(hub.servedRevision).toBe(0);
    detachB();
    expect(hub.servedRevision).toBe(sync.appliedRevision);
  });
});
