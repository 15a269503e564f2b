import { CompareFailedError, StoreUnavailableError } from '../../src/errors';
import type { ConfigStore } from '../../src/store/types';
import { timed, waitFor } from './wait-for';
import { WatchRecorder, eventKey } from './watch-recorder';

/** How the contract suite gets stores of one kind. */
export interface StoreFactory {
  /** A new store instance (the suite closes it after each test). */
  open(): Promise<ConfigStore>;
  /** Discard history before `revision`, as etcd compaction does. */
  compact(store: ConfigStore, revision: number): Promise<void>;
}

let prefixCounter = 0;

/**
 * The behaviour every ConfigStore must have: both stores pass this one suite, so the Admin
 * API and the data plane may rely on either. Tests only assume revisions relative to their
 * own writes, and each uses its own key prefix, so stores may share a backend (one etcd)
 * across tests.
 */
export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`ConfigStore contract: ${name}`, () => {
    const opened: ConfigStore[] = [];
    let store: ConfigStore;
    let p: string; // this test's key prefix

    const open = async (): Promise<ConfigStore> => {
      const s = await factory.open();
      opened.push(s);
      return s;
    };

    beforeEach(async () => {
      p = `/contract-${++prefixCounter}-${Math.random().toString(36).slice(2, 8)}`;
      store = await open();
    });

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    describe('put / get / range', () => {
      it('put returns the new revision and get reads it back with create = mod = that revision', async () => {
        const r = await store.put(`${p}/routes/1`, '{"uri":"/a"}');
        expect(r.prev).toBeUndefined();
        expect(await store.get(`${p}/routes/1`)).toEqual({
          key: `${p}/routes/1`, value: '{"uri":"/a"}', createRevision: r.revision, modRevision: r.revision,
        });
        expect(await store.get(`${p}/routes/missing`)).toBeUndefined();
      });

      it('an update keeps createRevision, moves modRevision and returns the previous value', async () => {
        const first = await store.put(`${p}/k`, 'v1');
        const second = await store.put(`${p}/k`, 'v2');
        expect(second.revision).toBeGreaterThan(first.revision);
        expect(second.prev).toEqual({ key: `${p}/k`, value: 'v1', createRevision: first.revision, modRevision: first.revision });
        expect(await store.get(`${p}/k`)).toEqual({ key: `${p}/k`, value: 'v2', createRevision: first.revision, modRevision: second.revision });
      });

      it('range returns exactly the keys under the prefix, sorted by key, at the latest revision', async () => {
        const revs: Record<string, number> = {};
        for (const k of ['routes/2', 'routes/10', 'routesX', 'routes/1', 'upstreams/1']) {
          revs[k] = (await store.put(`${p}/${k}`, `v-${k}`)).revision;
        }
        const last = Math.max(...Object.values(revs));
        const res = await store.range(`${p}/routes/`);
        expect(res.revision).toBe(last);
        expect(res.items).toEqual(['routes/1', 'routes/10', 'routes/2'].map((k) => ({
          key: `${p}/${k}`, value: `v-${k}`, createRevision: revs[k], modRevision: revs[k],
        })));
        expect((await store.range(`${p}/nothing/`)).items).toEqual([]);
        expect((await store.range(`${p}/`)).items.map((i) => i.key)).toEqual(
          ['routes/1', 'routes/10', 'routes/2', 'routesX', 'upstreams/1'].map((k) => `${p}/${k}`));
      });

      it('range reports revisions per key after updates', async () => {
        const a1 = await store.put(`${p}/a`, '1');
        const b1 = await store.put(`${p}/b`, '1');
        const a2 = await store.put(`${p}/a`, '2');
        const res = await store.range(`${p}/`);
        expect(res.revision).toBe(a2.revision);
        expect(res.items).toEqual([
          { key: `${p}/a`, value: '2', createRevision: a1.revision, modRevision: a2.revision },
          { key: `${p}/b`, value: '1', createRevision: b1.revision, modRevision: b1.revision },
        ]);
      });

      it('values are stored verbatim, including unicode and newlines', async () => {
        const value = '{"desc":"héllo ✓\\n","raw":"line1\nline2"}';
        await store.put(`${p}/v`, value);
        expect((await store.get(`${p}/v`))?.value).toBe(value);
      });
    });

    describe('compare-and-swap', () => {
      it('put with the current modRevision succeeds; with a stale one fails and changes nothing', async () => {
        const first = await store.put(`${p}/k`, 'v1');
        const second = await store.put(`${p}/k`, 'v2', { ifModRevision: first.revision });
        expect(second.prev?.value).toBe('v1');
        await expect(store.put(`${p}/k`, 'v3', { ifModRevision: first.revision })).rejects.toBeInstanceOf(CompareFailedError);
        expect(await store.get(`${p}/k`)).toMatchObject({ value: 'v2', modRevision: second.revision });
      });

      it('ifModRevision 0 means "create only": succeeds on a missing key, fails on an existing one', async () => {
        const created = await store.put(`${p}/new`, 'v1', { ifModRevision: 0 });
        expect(created.prev).toBeUndefined();
        await expect(store.put(`${p}/new`, 'v2', { ifModRevision: 0 })).rejects.toThrow(CompareFailedError);
        expect((await store.get(`${p}/new`))?.value).toBe('v1');
      });

      it('a non-zero ifModRevision on a missing key fails', async () => {
        const other = await store.put(`${p}/other`, 'x');
        await expect(store.put(`${p}/missing`, 'v', { ifModRevision: other.revision })).rejects.toThrow(CompareFailedError);
        expect(await store.get(`${p}/missing`)).toBeUndefined();
      });

      it('CompareFailedError names the key', async () => {
        await store.put(`${p}/k`, 'v');
        await expect(store.put(`${p}/k`, 'v', { ifModRevision: 0 })).rejects.toThrow(`${p}/k`);
      });
    });

    describe('delete', () => {
      it('deletes a key (count 1, new revision) and reports 0 for a missing key', async () => {
        const put = await store.put(`${p}/k`, 'v');
        const del = await store.delete(`${p}/k`);
        expect(del).toEqual({ revision: put.revision + 1, deleted: 1 });
        expect(await store.get(`${p}/k`)).toBeUndefined();
        const again = await store.delete(`${p}/k`);
        expect(again.deleted).toBe(0);
        expect(again.revision).toBeGreaterThanOrEqual(del.revision);
      });

      it('delete with ifModRevision: stale fails and keeps the key, current succeeds', async () => {
        const v1 = await store.put(`${p}/k`, 'v1');
        const v2 = await store.put(`${p}/k`, 'v2');
        await expect(store.delete(`${p}/k`, { ifModRevision: v1.revision })).rejects.toBeInstanceOf(CompareFailedError);
        expect((await store.get(`${p}/k`))?.value).toBe('v2');
        expect((await store.delete(`${p}/k`, { ifModRevision: v2.revision })).deleted).toBe(1);
        expect(await store.get(`${p}/k`)).toBeUndefined();
      });

      it('withChildren deletes the key and everything under key/ in one revision, but not siblings', async () => {
        await store.put(`${p}/consumers/john`, '{}');
        await store.put(`${p}/consumers/john/credentials/a`, '{}');
        await store.put(`${p}/consumers/john/credentials/b`, '{}');
        await store.put(`${p}/consumers/johnny`, '{}');
        const last = await store.put(`${p}/consumers/johnny/credentials/x`, '{}');

        const rec = new WatchRecorder();
        await store.watch(`${p}/`, last.revision + 1, rec);
        const del = await store.delete(`${p}/consumers/john`, { withChildren: true });
        expect(del.deleted).toBe(3);
        expect((await store.range(`${p}/`)).items.map((i) => i.key)).toEqual([
          `${p}/consumers/johnny`, `${p}/consumers/johnny/credentials/x`,
        ]);
        // One transaction: every delete carries the same revision, the one delete() returned.
        const events = await rec.waitForEvents(3);
        expect(events.map((e) => [e.type, eventKey(e), e.type === 'delete' ? e.modRevision : -1]).sort()).toEqual([
          ['delete', `${p}/consumers/john`, del.revision],
          ['delete', `${p}/consumers/john/credentials/a`, del.revision],
          ['delete', `${p}/consumers/john/credentials/b`, del.revision],
        ]);
        expect(rec.batches.at(-1)!.revision).toBe(del.revision);
      });

      it('withChildren on a key without children deletes just the key', async () => {
        await store.put(`${p}/consumers/solo`, '{}');
        await store.put(`${p}/consumers/solo2`, '{}');
        expect((await store.delete(`${p}/consumers/solo`, { withChildren: true })).deleted).toBe(1);
        expect(await store.get(`${p}/consumers/solo2`)).toBeDefined();
      });
    });

    describe('watch', () => {
      it('from revision + 1 delivers later puts and deletes in order, with their revisions', async () => {
        const start = await store.range(`${p}/`);
        const rec = new WatchRecorder();
        await store.watch(`${p}/`, start.revision + 1, rec);
        const a1 = await store.put(`${p}/a`, '1');
        const b1 = await store.put(`${p}/b`, '1');
        const a2 = await store.put(`${p}/a`, '2');
        const bDel = await store.delete(`${p}/b`);
        await rec.waitForEvents(4);
        expect(rec.summary).toEqual([
          `put ${p}/a=1@${a1.revision}`,
          `put ${p}/b=1@${b1.revision}`,
          `put ${p}/a=2@${a2.revision}`,
          `delete ${p}/b@${bDel.revision}`,
        ]);
        const a2Event = rec.events[2];
        expect(a2Event.type === 'put' && a2Event.kv.createRevision).toBe(a1.revision);
        // Batches are in order and each claims exactly up to its last event.
        const batchRevs = rec.batches.map((b) => b.revision);
        expect(batchRevs).toEqual([...batchRevs].sort((x, y) => x - y));
        expect(batchRevs.at(-1)).toBe(bDel.revision);
        expect(rec.resets).toEqual([]);
      });

      it('keeps order over many writes', async () => {
        const start = await store.range(`${p}/`);
        const rec = new WatchRecorder();
        await store.watch(`${p}/`, start.revision + 1, rec);
        const revs: number[] = [];
        for (let i = 0; i < 50; i++) revs.push((await store.put(`${p}/k${i % 7}`, String(i))).revision);
        await rec.waitForEvents(50);
        expect(rec.events.map((e) => (e.type === 'put' ? e.kv.modRevision : -1))).toEqual(revs);
        expect(rec.events.map((e) => (e.type === 'put' ? e.kv.value : ''))).toEqual(revs.map((_, i) => String(i)));
      });

      it('from an older revision replays history first', async () => {
        const a = await store.put(`${p}/a`, '1');
        const b = await store.put(`${p}/b`, '1');
        const d = await store.delete(`${p}/a`);
        const rec = new WatchRecorder();
        await store.watch(`${p}/`, a.revision, rec);
        const c = await store.put(`${p}/c`, '1');
        await rec.waitForEvents(4);
        expect(rec.summary).toEqual([
          `put ${p}/a=1@${a.revision}`,
          `put ${p}/b=1@${b.revision}`,
          `delete ${p}/a@${d.revision}`,
          `put ${p}/c=1@${c.revision}`,
        ]);
        // However the replay is chunked, a batch never claims more than it delivered.
        for (const batch of rec.batches) {
          const last = batch.events.at(-1)!;
          expect(batch.revision).toBe(last.type === 'put' ? last.kv.modRevision : last.modRevision);
        }
      });

      it('from a revision in the middle of history starts exactly there', async () => {
        await store.put(`${p}/a`, '1');
        const b = await store.put(`${p}/b`, '1');
        const rec = new WatchRecorder();
        await store.watch(`${p}/`, b.revision, rec);
        const c = await store.put(`${p}/c`, '1');
        await rec.waitForEvents(2);
        expect(rec.summary).toEqual([`put ${p}/b=1@${b.revision}`, `put ${p}/c=1@${c.revision}`]);
      });

      it('only sees keys under its prefix', async () => {
        const start = await store.range(`${p}/`);
        const rec = new WatchRecorder();
        await store.watch(`${p}/a/`, start.revision + 1, rec);
        await store.put(`${p}/a/1`, 'in');
        await store.put(`${p}/b/1`, 'out');
        await store.put(`${p}/a2`, 'out (shares the string prefix but not the path)');
        await store.delete(`${p}/b/1`);
        const last = await store.put(`${p}/a/2`, 'in');
        await waitFor(() => rec.events.some((e) => eventKey(e) === `${p}/a/2`), { what: 'a/2 event' });
        expect(rec.events.map(eventKey)).toEqual([`${p}/a/1`, `${p}/a/2`]);
        expect(rec.batches.at(-1)!.revision).toBe(last.revision);
      });

      it('from a compacted revision calls onReset and delivers nothing', async () => {
        const first = await store.put(`${p}/k`, '1');
        await store.put(`${p}/k`, '2');
        const third = await store.put(`${p}/k`, '3');
        await factory.compact(store, third.revision);

        const rec = new WatchRecorder();
        const handle = await store.watch(`${p}/`, first.revision, rec);
        const reason = await rec.waitForReset();
        expect(reason).toBeInstanceOf(Error);
        // A consumer typically cancels the dead handle before re-watching: must not hang.
        expect((await timed(handle.cancel())).ms).toBeLessThan(1000);
        // The watch is dead: later writes reach a fresh watch but not this one.
        const probe = new WatchRecorder();
        await store.watch(`${p}/`, third.revision + 1, probe);
        await store.put(`${p}/k`, '4');
        await probe.waitForEvents(1);
        expect(rec.events).toEqual([]);
        expect(rec.resets).toHaveLength(1);
      });

      it('from the compaction revision itself still works', async () => {
        await store.put(`${p}/k`, '1');
        const second = await store.put(`${p}/k`, '2');
        await factory.compact(store, second.revision);
        const rec = new WatchRecorder();
        await store.watch(`${p}/`, second.revision, rec);
        await rec.waitForEvents(1);
        expect(rec.summary).toEqual([`put ${p}/k=2@${second.revision}`]);
        expect(rec.resets).toEqual([]);
      });

      it('cancel stops delivery', async () => {
        const start = await store.range(`${p}/`);
        const cancelled = new WatchRecorder();
        const probe = new WatchRecorder();
        const handle = await store.watch(`${p}/`, start.revision + 1, cancelled);
        await store.watch(`${p}/`, start.revision + 1, probe);
        await store.put(`${p}/before`, '1');
        await cancelled.waitForEvents(1);
        await handle.cancel();
        await store.put(`${p}/after1`, '1');
        await store.put(`${p}/after2`, '1');
        await probe.waitForEvents(3);
        expect(cancelled.events.map(eventKey)).toEqual([`${p}/before`]);
        await handle.cancel(); // idempotent
      });

      it('two watches on one store are independent', async () => {
        const start = await store.range(`${p}/`);
        const a = new WatchRecorder();
        const b = new WatchRecorder();
        await store.watch(`${p}/a/`, start.revision + 1, a);
        await store.watch(`${p}/b/`, start.revision + 1, b);
        await store.put(`${p}/a/1`, '1');
        await store.put(`${p}/b/1`, '1');
        await a.waitForEvents(1);
        await b.waitForEvents(1);
        expect(a.events.map(eventKey)).toEqual([`${p}/a/1`]);
        expect(b.events.map(eventKey)).toEqual([`${p}/b/1`]);
      });
    });

    describe('leases', () => {
      it('keys attached to a lease disappear when it is revoked, and watchers see the delete', async () => {
        const lease = await store.grantLease(30);
        expect(typeof lease.id).toBe('string');
        const put = await store.put(`${p}/nodes/n1`, '{"id":"n1"}', { leaseId: lease.id });
        await store.put(`${p}/nodes/static`, '{}');
        const rec = new WatchRecorder();
        await store.watch(`${p}/`, put.revision + 1, rec);
        expect(await store.get(`${p}/nodes/n1`)).toBeDefined();
        await lease.revoke();
        await waitFor(async () => (await store.get(`${p}/nodes/n1`)) === undefined, { what: 'leased key deleted' });
        expect(await store.get(`${p}/nodes/static`)).toBeDefined();
        const events = await rec.waitForEvents(2);
        expect(events.map((e) => `${e.type} ${eventKey(e)}`)).toEqual([`put ${p}/nodes/static`, `delete ${p}/nodes/n1`]);
      });

      it('put with an unknown lease is rejected', async () => {
        await expect(store.put(`${p}/x`, 'v', { leaseId: '123456789' })).rejects.toThrow();
        expect(await store.get(`${p}/x`)).toBeUndefined();
      });
    });

    describe('close', () => {
      it('is idempotent, does not hang with an active watch, and later calls fail as unavailable', async () => {
        const s = await open();
        const start = await s.range(`${p}/`);
        const rec = new WatchRecorder();
        await s.watch(`${p}/`, start.revision + 1, rec);
        await s.grantLease(30);
        const first = await timed(s.close());
        const second = await timed(s.close());
        expect(first.error).toBeUndefined();
        expect(second.error).toBeUndefined();
        expect(first.ms).toBeLessThan(3000);
        await expect(s.get(`${p}/x`)).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(s.put(`${p}/x`, 'v')).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(s.watch(`${p}/`, 1, new WatchRecorder())).rejects.toBeInstanceOf(StoreUnavailableError);
      });
    });
  });
}
