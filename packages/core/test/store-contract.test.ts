import './helpers/quiet-logs';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compactEtcd, EtcdProcess, startEtcd } from '../../testkit/src/etcd';
import { freePort } from '../../testkit/src/free-port';
import { ConfigError, DataDirLockedError, StoreUnavailableError } from '../src/errors';
import { EMBEDDED_FILES, EmbeddedStore } from '../src/store/embedded-store';
import { EtcdStore } from '../src/store/etcd-store';
import type { ConfigStore, WatchHandle } from '../src/store/types';
import { EmbeddedChild, killAllEmbeddedChildren } from './helpers/embedded-child';
import { describeStoreContract } from './helpers/store-contract';
import { timed, waitFor } from './helpers/wait-for';
import { WatchRecorder, eventKey } from './helpers/watch-recorder';

// ---------------------------------------------------------------------------------------
// The shared contract, once per store kind
// ---------------------------------------------------------------------------------------

describe('EtcdStore', () => {
  let etcd: EtcdProcess;
  beforeAll(async () => {
    etcd = await startEtcd({ name: 'store-contract' });
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  describeStoreContract('etcd', {
    open: async () => new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 5 }),
    compact: async (_store, revision) => {
      await compactEtcd(etcd.endpoint, revision);
    },
  });

  it('a watch sees writes made through another client', async () => {
    const reader = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 5 });
    const writer = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds: 5 });
    try {
      const start = await reader.range('/two-clients/');
      const rec = new WatchRecorder();
      await reader.watch('/two-clients/', start.revision + 1, rec);
      const w = await writer.put('/two-clients/x', '1');
      await rec.waitForEvents(1);
      expect(rec.summary).toEqual([`put /two-clients/x=1@${w.revision}`]);
    } finally {
      await Promise.all([reader.close(), writer.close()]);
    }
  });

  it('works with several endpoints when one of them is dead', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const store = new EtcdStore({ hosts: [dead, etcd.endpoint], timeoutSeconds: 5 });
    try {
      // The client picks hosts at random, so repeat enough to hit the dead one first.
      for (let i = 0; i < 10; i++) {
        const r = await store.put(`/multi-host/${i}`, String(i));
        expect((await store.get(`/multi-host/${i}`))?.modRevision).toBe(r.revision);
      }
    } finally {
      await store.close();
    }
  });
});

describe('EtcdStore options', () => {
  it('refuses tls.verify=false and unreadable or half-set certificates with the setting named', () => {
    const hosts = ['https://127.0.0.1:2379'];
    expect(() => new EtcdStore({ hosts, timeoutSeconds: 1, tls: { verify: false } })).toThrow(ConfigError);
    expect(() => new EtcdStore({ hosts, timeoutSeconds: 1, tls: { verify: false } })).toThrow(/deployment\.etcd\.tls\.verify/);
    expect(() => new EtcdStore({ hosts, timeoutSeconds: 1, tls: { cert: '/nonexistent/c.pem', key: '/nonexistent/k.pem' } }))
      .toThrow(/deployment\.etcd\.tls\.(cert|key): cannot read \/nonexistent/);
    expect(() => new EtcdStore({ hosts, timeoutSeconds: 1, tls: { cert: '/nonexistent/c.pem' } })).toThrow(/together/);
  });

  it('ignores TLS settings for http hosts (config.yaml always carries the tls block)', async () => {
    const store = new EtcdStore({ hosts: ['http://127.0.0.1:2379'], timeoutSeconds: 1, tls: { cert: null, key: null, verify: false } });
    await store.close();
  });
});

describe('EmbeddedStore', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const tmpDir = (): string => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-embedded-'));
    dirs.push(d);
    return d;
  };

  describeStoreContract('embedded', {
    open: () => EmbeddedStore.open(tmpDir()),
    compact: async (store, revision) => (store as EmbeddedStore).compact(revision),
  });

  // -------------------------------------------------------------------------------------
  // Embedded-only behaviour: durability, ownership, history bounds
  // -------------------------------------------------------------------------------------

  describe('durability', () => {
    afterEach(killAllEmbeddedChildren);

    it('every write acknowledged before a SIGKILL is there after reopening', async () => {
      const dir = tmpDir();
      const child = new EmbeddedChild(dir, 'write', 1_000_000);
      await child.waitForLine(/^acked 29$/);
      await child.kill('SIGKILL');
      const acked = child.lines.flatMap((l) => /^acked (\d+)$/.exec(l)?.[1] ?? []).map(Number);
      const lastAcked = Math.max(...acked);
      expect(acked).toEqual([...Array(lastAcked + 1).keys()]);

      // The dead child's lock is stale, so this also exercises the takeover.
      const store = await EmbeddedStore.open(dir);
      try {
        const { items } = await store.range('/durable/');
        const present = items.map((i) => Number(i.key.split('/')[2])).sort((a, b) => a - b);
        // All acknowledged writes, plus at most the one that was in flight.
        expect(present.slice(0, lastAcked + 1)).toEqual([...Array(lastAcked + 1).keys()]);
        expect(present.length).toBeLessThanOrEqual(lastAcked + 2);
        for (const item of items) expect(JSON.parse(item.value)).toEqual({ i: Number(item.key.split('/')[2]) });
      } finally {
        await store.close();
      }
    });

    it('drops a torn last log line (crash mid-append) and keeps appending cleanly', async () => {
      const dir = tmpDir();
      let store = await EmbeddedStore.open(dir);
      await store.put('/a', '1');
      const b = await store.put('/b', '2');
      await store.close();

      const logFile = path.join(dir, EMBEDDED_FILES.log);
      const goodSize = fs.statSync(logFile).size;
      fs.appendFileSync(logFile, '{"rev":99,"ops":[{"op":"put","key":"/torn","val');

      store = await EmbeddedStore.open(dir);
      expect(fs.statSync(logFile).size).toBe(goodSize);
      expect((await store.range('/')).items.map((i) => i.key)).toEqual(['/a', '/b']);
      const c = await store.put('/c', '3');
      expect(c.revision).toBe(b.revision + 1);
      await store.close();

      store = await EmbeddedStore.open(dir);
      const res = await store.range('/');
      expect(res.items.map((i) => `${i.key}=${i.value}`)).toEqual(['/a=1', '/b=2', '/c=3']);
      expect(res.revision).toBe(c.revision);
      await store.close();
    });

    it('refuses to open a log damaged in the middle, and releases the lock', async () => {
      const dir = tmpDir();
      const store = await EmbeddedStore.open(dir);
      await store.put('/a', '1');
      await store.put('/b', '2');
      await store.close();
      const logFile = path.join(dir, EMBEDDED_FILES.log);
      const lines = fs.readFileSync(logFile, 'utf8').split('\n');
      lines[0] = lines[0].slice(0, 10);
      fs.writeFileSync(logFile, lines.join('\n'));

      await expect(EmbeddedStore.open(dir)).rejects.toThrow(/corrupt/);
      expect(fs.existsSync(path.join(dir, EMBEDDED_FILES.lock))).toBe(false);
    });

    it('keeps revisions and create revisions across a reopen', async () => {
      const dir = tmpDir();
      let store = await EmbeddedStore.open(dir);
      const a1 = await store.put('/a', '1');
      const a2 = await store.put('/a', '2');
      await store.put('/gone', 'x');
      const del = await store.delete('/gone');
      const before = await store.range('/');
      await store.close();

      store = await EmbeddedStore.open(dir);
      const after = await store.range('/');
      expect(after).toEqual(before);
      expect(after.revision).toBe(del.revision);
      expect(after.items).toEqual([{ key: '/a', value: '2', createRevision: a1.revision, modRevision: a2.revision }]);
      expect((await store.put('/a', '3')).revision).toBe(del.revision + 1);
      await store.close();
    });

    it('snapshots and restarts the log past the threshold without losing anything', async () => {
      const dir = tmpDir();
      let store = await EmbeddedStore.open(dir, { snapshotEveryRecords: 5 });
      for (let i = 0; i < 12; i++) await store.put(`/k/${i % 4}`, String(i));
      await store.delete('/k/3');
      const before = await store.range('/');
      await store.close();

      expect(fs.existsSync(path.join(dir, EMBEDDED_FILES.snapshot))).toBe(true);
      const logLines = fs.readFileSync(path.join(dir, EMBEDDED_FILES.log), 'utf8').split('\n').filter(Boolean);
      expect(logLines.length).toBeLessThan(5);

      store = await EmbeddedStore.open(dir);
      expect(await store.range('/')).toEqual(before);
      expect((await store.put('/k/0', 'x')).revision).toBe(before.revision + 1);
      await store.close();
    });

    it('leased keys do not survive a reopen, but their revisions are not reused', async () => {
      const dir = tmpDir();
      let store = await EmbeddedStore.open(dir);
      await store.put('/static', '1');
      const lease = await store.grantLease(10);
      const leased = await store.put('/nodes/n1', '{}', { leaseId: lease.id });
      await store.close();

      store = await EmbeddedStore.open(dir);
      expect(await store.get('/nodes/n1')).toBeUndefined();
      expect(await store.get('/static')).toBeDefined();
      expect((await store.put('/static', '2')).revision).toBe(leased.revision + 1);
      await store.close();
    });

    it('creates a missing data directory', async () => {
      const dir = path.join(tmpDir(), 'nested', 'data');
      const store = await EmbeddedStore.open(dir);
      await store.put('/a', '1');
      await store.close();
      expect(fs.existsSync(path.join(dir, EMBEDDED_FILES.log))).toBe(true);
    });
  });

  describe('data directory ownership', () => {
    afterEach(killAllEmbeddedChildren);

    it('a second process gets DataDirLockedError naming the dir and pid; a dead owner\'s lock is taken over', async () => {
      const dir = tmpDir();
      const child = new EmbeddedChild(dir, 'hold');
      const pid = Number((await child.waitForLine(/^ready (\d+)$/))[1]);

      const err = await EmbeddedStore.open(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataDirLockedError);
      expect((err as Error).message).toContain(
        `data directory ${path.resolve(dir)} is in use by another Portico process (pid ${pid}); ` +
        'stop it or set deployment.embedded.data_dir to another directory');

      await child.kill('SIGKILL');
      const lockFile = path.join(dir, EMBEDDED_FILES.lock);
      expect(fs.readFileSync(lockFile, 'utf8').trim()).toBe(String(pid)); // stale, still there
      const store = await EmbeddedStore.open(dir);
      expect(fs.readFileSync(lockFile, 'utf8').trim()).toBe(String(process.pid));
      await store.close();
      expect(fs.existsSync(lockFile)).toBe(false);
    });

    it('a process cannot open a directory this process holds', async () => {
      const dir = tmpDir();
      const store = await EmbeddedStore.open(dir);
      try {
        const child = new EmbeddedChild(dir, 'hold');
        const line = await child.waitForLine(/^error (.*)$/);
        expect(line[1]).toContain(`DataDirLockedError: data directory ${path.resolve(dir)} is in use by another Portico process (pid ${process.pid})`);
        await child.exited;
      } finally {
        await store.close();
      }
    });

    it('the same process cannot open it twice, and can again after close', async () => {
      const dir = tmpDir();
      const store = await EmbeddedStore.open(dir);
      await expect(EmbeddedStore.open(dir)).rejects.toThrow(/in use by this Portico process/);
      await store.close();
      const again = await EmbeddedStore.open(dir);
      await again.close();
    });

    // The owner is killed with -9 under a parent (`sleep`, exec'd by sh) that never reaps it,
    // so its pid stays a zombie, which `kill(pid, 0)` still reports as alive.
    (process.platform === 'linux' ? it : it.skip)('a lock whose owner is a zombie after kill -9, or whose pid another process now has, is taken over', async () => {
      const dir = tmpDir();
      const helpers = path.join(__dirname, 'helpers');
      const cmd = `"${process.execPath}" -r "${path.join(helpers, 'ts-register.js')}" "${path.join(helpers, 'embedded-store-process.js')}" "${dir}" hold & exec sleep 120`;
      const parent = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, PORTICO_LOG_LEVEL: 'silent' } });
      try {
        let out = '';
        parent.stdout!.on('data', (d) => { out += String(d); });
        await waitFor(() => /ready \d+/.test(out), { timeoutMs: 20_000, what: 'the owner to open the store' });
        const pid = Number(/ready (\d+)/.exec(out)![1]);
        await expect(EmbeddedStore.open(dir)).rejects.toThrow(DataDirLockedError);

        process.kill(pid, 'SIGKILL');
        const state = () => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
        await waitFor(() => state() === 'Z', { what: 'the owner to be a zombie' });
        expect(() => process.kill(pid, 0)).not.toThrow(); // what the old lock trusted
        let store: EmbeddedStore | undefined;
        await waitFor(async () => (store = await EmbeddedStore.open(dir)) !== undefined, { what: 'the restart to take the lock' });
        await store!.close();

        // A lock file naming a live process that holds nothing (a reused pid).
        fs.writeFileSync(path.join(dir, EMBEDDED_FILES.lock), `${parent.pid}\n`);
        const again = await EmbeddedStore.open(dir);
        await again.close();
      } finally {
        parent.kill('SIGKILL');
      }
    });

    it('a lock holding our own pid from an earlier process (container PID reuse) is taken over', async () => {
      const dir = tmpDir();
      fs.writeFileSync(path.join(dir, EMBEDDED_FILES.lock), `${process.pid}\n`);
      const store = await EmbeddedStore.open(dir);
      await store.put('/a', '1');
      await store.close();
    });
  });

  describe('watch history', () => {
    it('is bounded by historyLimit: older revisions reset, retained ones replay', async () => {
      const store = await EmbeddedStore.open(tmpDir(), { historyLimit: 3 });
      try {
        const revs: number[] = [];
        for (let i = 0; i < 5; i++) revs.push((await store.put(`/k${i}`, String(i))).revision);

        const old = new WatchRecorder();
        await store.watch('/', revs[1], old);
        await old.waitForReset();

        const kept = new WatchRecorder();
        await store.watch('/', revs[2], kept);
        await kept.waitForEvents(3);
        expect(kept.events.map(eventKey)).toEqual(['/k2', '/k3', '/k4']);
        expect(old.events).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it('starts at open: after a reopen, watching from the range revision + 1 works, older resets', async () => {
      const dir = tmpDir();
      let store = await EmbeddedStore.open(dir);
      await store.put('/a', '1');
      await store.close();
      store = await EmbeddedStore.open(dir);
      try {
        const { revision } = await store.range('/');
        const tooOld = new WatchRecorder();
        await store.watch('/', revision, tooOld);
        const live = new WatchRecorder();
        await store.watch('/', revision + 1, live);
        const b = await store.put('/b', '1');
        await live.waitForEvents(1);
        expect(live.summary).toEqual([`put /b=1@${b.revision}`]);
        await tooOld.waitForReset();
      } finally {
        await store.close();
      }
    });

    it('delivers events after the write returns, never from inside it', async () => {
      const store = await EmbeddedStore.open(tmpDir());
      try {
        let insideWrite = false;
        const seenInside: boolean[] = [];
        await store.watch('/', 2, {
          onEvents: () => { seenInside.push(insideWrite); },
          onReset: () => undefined,
        });
        insideWrite = true;
        const put = store.put('/a', '1');
        insideWrite = false;
        await put;
        await waitFor(() => seenInside.length === 1, { what: 'event' });
        expect(seenInside).toEqual([false]);
      } finally {
        await store.close();
      }
    });
  });
});

// ---------------------------------------------------------------------------------------
// EtcdStore when etcd goes away (its own etcd, so the contract etcd is never disturbed)
// ---------------------------------------------------------------------------------------

/**
 * What a data-plane node does (SPEC 5.2), reduced to the store calls: range, watch from
 * revision + 1, and on reset range again (retrying while the store is down) and re-watch.
 */
class MiniSync {
  readonly state = new Map<string, string>();
  resets = 0;
  private handle: WatchHandle | undefined;
  private stopped = false;

  constructor(private readonly store: ConfigStore, private readonly prefix: string) {}

  async start(): Promise<void> {
    const res = await this.store.range(this.prefix);
    this.state.clear();
    for (const kv of res.items) this.state.set(kv.key, kv.value);
    this.handle = await this.store.watch(this.prefix, res.revision + 1, {
      onEvents: (events) => {
        for (const e of events) {
          if (e.type === 'put') this.state.set(e.kv.key, e.kv.value);
          else this.state.delete(e.key);
        }
      },
      onReset: () => {
        this.resets++;
        void this.resync();
      },
    });
  }

  private async resync(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.start();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100)); // retry interval, not synchronisation
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.handle?.cancel();
  }
}

describe('EtcdStore when etcd is unavailable', () => {
  let etcd: EtcdProcess;
  const stores: EtcdStore[] = [];
  const newStore = (timeoutSeconds = 2): EtcdStore => {
    const s = new EtcdStore({ hosts: [etcd.endpoint], timeoutSeconds });
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    etcd = await startEtcd({ name: 'store-outage' });
  });
  afterEach(async () => {
    etcd.resume();
    if (etcd.pid === undefined) await etcd.restart();
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('calls fail fast with StoreUnavailableError while etcd is down, and work again once it is back', async () => {
    const store = newStore(2);
    await store.put('/outage/a', '1');
    await etcd.kill();

    const calls: (() => Promise<unknown>)[] = [() => store.put('/outage/b', '1'), () => store.range('/outage/'), () => store.get('/outage/a')];
    for (const call of calls) {
      const r = await timed(call());
      expect(r.error).toBeInstanceOf(StoreUnavailableError);
      expect((r.error as Error).message).toMatch(/^etcd unavailable/);
      expect(r.ms).toBeLessThan(3000);
    }
    const w = await timed(store.watch('/outage/', 1, new WatchRecorder()));
    expect(w.error).toBeInstanceOf(StoreUnavailableError);
    expect(w.ms).toBeLessThan(3000);

    await etcd.restart();
    // Same store object: it reconnects by itself (after its circuit breaker half-opens).
    await waitFor(() => store.put('/outage/b', '2'), { timeoutMs: 15_000, what: 'put after restart' });
    expect((await store.get('/outage/a'))?.value).toBe('1');
  });

  it('a hung etcd (SIGSTOP) makes calls time out after about timeoutSeconds, and close() still returns', async () => {
    const store = newStore(2);
    await store.put('/hung/a', '1');
    const start = await store.range('/hung/');
    const rec = new WatchRecorder();
    await store.watch('/hung/', start.revision + 1, rec);
    etcd.pause();

    const r = await timed(store.put('/hung/b', '1'));
    expect(r.error).toBeInstanceOf(StoreUnavailableError);
    expect(r.ms).toBeGreaterThanOrEqual(1500);
    expect(r.ms).toBeLessThan(3500);

    const closed = await timed(store.close());
    expect(closed.error).toBeUndefined();
    expect(closed.ms).toBeLessThan(6000);
    etcd.resume();
  });

  it('close() during a watch that is still being established fails that watch promptly', async () => {
    const store = newStore(30);
    await store.range('/closing/');
    etcd.pause();
    const pending = timed(store.watch('/closing/', 1, new WatchRecorder()));
    await store.close();
    const w = await pending;
    expect(w.error).toBeInstanceOf(StoreUnavailableError);
    expect(w.ms).toBeLessThan(5000);
    etcd.resume();
  });

  it('a watch converges across an etcd crash and restart (reset, re-range, re-watch)', async () => {
    const reader = newStore(2);
    const sync = new MiniSync(reader, '/restart/');
    await sync.start();
    const writer = newStore(2);
    await writer.put('/restart/before', '1');
    await writer.put('/restart/doomed', '1');
    await waitFor(() => sync.state.get('/restart/doomed') === '1', { what: 'pre-crash write applied' });

    await etcd.kill();
    await etcd.restart();

    await waitFor(() => writer.put('/restart/after', '1'), { timeoutMs: 15_000, what: 'write after restart' });
    await waitFor(() => writer.delete('/restart/doomed'), { timeoutMs: 15_000, what: 'delete after restart' });
    await waitFor(() => sync.state.get('/restart/after') === '1' && !sync.state.has('/restart/doomed'),
      { timeoutMs: 20_000, what: 'post-restart changes applied' });
    expect([...sync.state.keys()].sort()).toEqual(['/restart/after', '/restart/before']);
    // The lost stream is reported as a reset rather than resumed silently (see EtcdStore).
    expect(sync.resets).toBeGreaterThanOrEqual(1);
    await sync.stop();
  });
});
