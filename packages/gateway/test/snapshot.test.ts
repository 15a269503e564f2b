import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigSync, SnapshotWriter, readSnapshot, writeSnapshotAtomically } from '../src';
import { FlakyStore, tempEmbeddedStore } from './helpers/stores';
import './helpers/quiet-logs';

/** Local snapshot (SPEC §5.5): the file format and ConfigSync's seed → stale → converge path. */

const route = (uri: string) => JSON.stringify({ uri, upstream: { nodes: { '127.0.0.1:1': 1 } } });
let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-snap-')); });
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function until(check: () => boolean, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('written atomically, read back; corrupt, foreign-prefix and missing files are ignored', async () => {
  const file = path.join(dir, 'snap.json');
  expect(readSnapshot(file, '/apisix')).toBeUndefined();
  const items = [{ key: '/apisix/routes/1', value: route('/a'), createRevision: 2, modRevision: 3 }];
  await writeSnapshotAtomically(file, { revision: 7, prefix: '/apisix', items });
  expect(readSnapshot(file, '/apisix')).toEqual({ revision: 7, prefix: '/apisix', items });
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  expect(fs.readdirSync(dir)).toEqual(['snap.json']); // no temp file left behind
  expect(readSnapshot(file, '/other')).toBeUndefined();
  fs.writeFileSync(file, '{"format":1,"revision":7,"prefix":"/apisix","items":[{"key":1}]}');
  expect(readSnapshot(file, '/apisix')).toBeUndefined();
  fs.writeFileSync(file, '{not json');
  expect(readSnapshot(file, '/apisix')).toBeUndefined();
});

test('the writer coalesces a burst of changes into few writes and flushes the last on stop', async () => {
  const file = path.join(dir, 'snap.json');
  let revision = 1;
  const writer = new SnapshotWriter({ file, prefix: '/apisix', minIntervalMs: 200, source: () => ({ revision, items: [] }) });
  for (let i = 0; i < 50; i++) { revision++; writer.notify(); }
  await until(() => writer.writes >= 1, 'the first write');
  revision = 99;
  writer.notify();
  await writer.stop();
  expect(writer.writes).toBeLessThanOrEqual(3);
  expect(readSnapshot(file, '/apisix')?.revision).toBe(99);
});

test('seeded ConfigSync: not ready while the store may answer; stale-ready when it fails; converges when it returns', async () => {
  const { store: inner, cleanup } = await tempEmbeddedStore();
  try {
    const { revision } = await inner.put('/apisix/routes/1', route('/new'));
    const flaky = new FlakyStore(inner);
    flaky.outage();
    const sync = new ConfigSync({ store: flaky, backoff: { initialMs: 20, maxMs: 50 } });
    const applied: boolean[] = [];
    sync.onApplied((_r, changed) => applied.push(changed));
    sync.seed([{ key: '/apisix/routes/1', value: route('/old'), createRevision: 1, modRevision: 1 }], 1);
    expect(sync.ready).toBe(false); // nothing has failed yet: do not advertise possibly-old config
    expect((sync.get('/apisix/routes/1')?.value as { uri: string }).uri).toBe('/old');
    sync.start();
    await until(() => sync.ready, 'stale readiness after the first failure');
    expect(sync.snapshot).toEqual({ stale: true, revision: 1 });
    flaky.restore();
    await until(() => sync.snapshot?.stale === false && sync.connected, 'convergence');
    expect((sync.get('/apisix/routes/1')?.value as { uri: string }).uri).toBe('/new');
    expect(sync.appliedRevision).toBeGreaterThanOrEqual(revision);
    expect(sync.storedItems().items.map((kv) => kv.value)).toEqual([route('/new')]);
    expect(applied).toContain(true);
    await sync.stop();
  } finally {
    await cleanup();
  }
});
