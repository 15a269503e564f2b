import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CompareFailedError, DataDirLockedError, StoreUnavailableError } from '../errors';
import { componentLogger } from '../logger';
import type {
  ConfigStore,
  DeleteOptions,
  DeleteResult,
  KeyValue,
  Lease,
  PutOptions,
  PutResult,
  RangeResult,
  WatchCallbacks,
  WatchEvent,
  WatchHandle,
} from './types';

const log = componentLogger('embedded-store');

export interface EmbeddedStoreOptions {
  /** How many recent revisions of events are kept in memory for watch replay. Default 10000. */
  historyLimit?: number;
  /** Write a snapshot and start a new log after this many log records. Default 10000. */
  snapshotEveryRecords?: number;
  /** ... or once the log reaches this size in bytes. Default 64 MiB. */
  snapshotEveryBytes?: number;
}

/** File names inside the data directory (exported for tests and operators). */
export const EMBEDDED_FILES = {
  lock: 'portico.lock',
  log: 'store.log',
  snapshot: 'store.snapshot.json',
} as const;

/**
 * Data directories opened by this process. A lock file naming our own pid is only "ours" if
 * it is in here; otherwise it was left by an earlier process that happened to have the same
 * pid, which is the normal case for PID 1 in a restarted container.
 */
const openedHere = new Set<string>();

interface Entry {
  value: string;
  createRevision: number;
  modRevision: number;
  leaseId?: string;
}

/** One line of store.log: every operation of one write, applied at revision `rev`. */
interface LogRecord {
  rev: number;
  ops: LogOp[];
}
type LogOp =
  | { op: 'put'; key: string; value: string; create: number; leased?: true }
  | { op: 'del'; key: string };

interface Snapshot {
  version: 1;
  revision: number;
  kvs: KeyValue[];
}

interface HistoryEntry {
  revision: number;
  events: WatchEvent[];
}

interface LocalWatch {
  prefix: string;
  callbacks: WatchCallbacks;
  /** Batches waiting to be delivered, oldest first. */
  queue: HistoryEntry[];
  scheduled: boolean;
  dead: boolean;
}

/**
 * In-process ConfigStore for single-node use, durable under a data directory.
 *
 * Revisions work like etcd's: an empty store is at revision 1, every write (a put, a delete,
 * a lease revocation) is one transaction that takes the next revision, and each key keeps the
 * revision it was created at and the revision of its last change.
 *
 * Durability: each write is appended to `store.log` as one JSON line and fdatasync'ed before
 * the write is applied in memory and acknowledged, so an acknowledged write survives a crash.
 * On open the store loads `store.snapshot.json` (if any) and replays the log; a torn final
 * line (a crash mid-append) is dropped and cut off. When the log grows past a threshold, the
 * whole state is written to a new snapshot (tmp file + fsync + rename + fsync of the dir) and
 * the log is emptied. The I/O is synchronous on purpose: it keeps each write atomic with
 * respect to every other call, and configuration writes are rare.
 *
 * Watch history is in memory only (`historyLimit` revisions, starting at open): a watch from
 * an older revision gets onReset and must re-range, exactly as after an etcd compaction.
 *
 * Leases live in memory and never expire while the store is open (the store is its own
 * keep-alive client). Leased keys are logged like any write, but a leased key found during
 * replay is dropped: after a restart its lease no longer exists, as if it had expired.
 *
 * Ownership: a lock held by the live owner (see acquireLock); a second process gets
 * DataDirLockedError naming the owner's pid, and whatever a dead owner left is taken over.
 */
export class EmbeddedStore implements ConfigStore {
  readonly kind = 'embedded' as const;

  private readonly entries = new Map<string, Entry>();
  private revision = 1;
  private readonly history: HistoryEntry[] = [];
  /** Oldest revision a watch may start from (older history is gone). */
  private minWatchRevision = 2;
  private readonly watches = new Set<LocalWatch>();
  private readonly leases = new Map<string, Set<string>>();
  private nextLeaseId = 1;
  private logFd: number | undefined;
  private logBytes = 0;
  private logRecords = 0;
  private closed = false;
  /** Set when a failed append could not be cut off: the log can no longer be trusted. */
  private logBroken = false;
  private readonly historyLimit: number;
  private readonly snapshotEveryRecords: number;
  private readonly snapshotEveryBytes: number;

  private constructor(readonly dataDir: string, opts: EmbeddedStoreOptions) {
    this.historyLimit = opts.historyLimit ?? 10_000;
    this.snapshotEveryRecords = opts.snapshotEveryRecords ?? 10_000;
    this.snapshotEveryBytes = opts.snapshotEveryBytes ?? 64 * 1024 * 1024;
  }

  /** Open (creating if needed) the store in `dataDir`, taking exclusive ownership of it. */
  static async open(dataDir: string, opts: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    const dir = path.resolve(dataDir);
    fs.mkdirSync(dir, { recursive: true });
    await acquireLock(dir);
    const store = new EmbeddedStore(dir, opts);
    try {
      store.load();
    } catch (err) {
      store.closeFiles();
      throw err;
    }
    return store;
  }

  // ---- reads -------------------------------------------------------------------------

  async range(prefix: string): Promise<RangeResult> {
    this.assertOpen();
    const items: KeyValue[] = [];
    for (const [key, e] of this.entries) {
      if (key.startsWith(prefix)) items.push(toKeyValue(key, e));
    }
    // Keys are ASCII paths in practice, where code-unit order equals etcd's byte order.
    items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { revision: this.revision, items };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    const e = this.entries.get(key);
    return e ? toKeyValue(key, e) : undefined;
  }

  // ---- writes ------------------------------------------------------------------------

  async put(key: string, value: string, opts: PutOptions = {}): Promise<PutResult> {
    this.assertOpen();
    const existing = this.entries.get(key);
    this.checkCompare(key, existing, opts.ifModRevision);
    if (opts.leaseId !== undefined && !this.leases.has(opts.leaseId)) {
      throw new Error(`embedded store: lease ${opts.leaseId} not found`);
    }
    const revision = this.commit([{
      op: 'put', key, value, create: existing ? existing.createRevision : this.revision + 1,
      ...(opts.leaseId !== undefined ? { leased: true as const } : {}),
    }], opts.leaseId);
    return { revision, prev: existing ? toKeyValue(key, existing) : undefined };
  }

  async delete(key: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    this.assertOpen();
    this.checkCompare(key, this.entries.get(key), opts.ifModRevision);
    const keys = this.entries.has(key) ? [key] : [];
    if (opts.withChildren) {
      const childPrefix = `${key}/`;
      for (const k of this.entries.keys()) if (k.startsWith(childPrefix)) keys.push(k);
    }
    // Like etcd, deleting nothing is not a write and does not take a revision.
    if (keys.length === 0) return { revision: this.revision, deleted: 0 };
    const revision = this.commit(keys.map((k) => ({ op: 'del' as const, key: k })));
    return { revision, deleted: keys.length };
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    this.assertOpen();
    if (!(ttlSeconds >= 1)) throw new RangeError(`lease TTL must be at least 1 second, got ${ttlSeconds}`);
    const id = String(this.nextLeaseId++);
    this.leases.set(id, new Set());
    return { id, revoke: async () => this.revokeLease(id) };
  }

  /**
   * Forget history before `revision`: a watch from an older revision gets onReset. The
   * equivalent of etcd compaction, for tests and for bounding memory by hand.
   */
  compact(revision: number): void {
    this.assertOpen();
    if (revision > this.revision) {
      throw new Error(`cannot compact to ${revision}: it is beyond the current revision ${this.revision}`);
    }
    while (this.history.length > 0 && this.history[0].revision < revision) this.history.shift();
    this.minWatchRevision = Math.max(this.minWatchRevision, revision);
  }

  // ---- watch -------------------------------------------------------------------------

  async watch(prefix: string, fromRevision: number, callbacks: WatchCallbacks): Promise<WatchHandle> {
    this.assertOpen();
    const watch: LocalWatch = { prefix, callbacks, queue: [], scheduled: false, dead: false };
    if (fromRevision < this.minWatchRevision) {
      const reason = new Error(`embedded store: revision ${fromRevision} is no longer in history (oldest is ${this.minWatchRevision}); re-range`);
      setImmediate(() => {
        if (!watch.dead) {
          watch.dead = true;
          safely(() => callbacks.onReset(reason), 'onReset');
        }
      });
      return { cancel: async () => { watch.dead = true; } };
    }
    // Replay what is already in history, then stay registered for new commits. Both go
    // through the same queue, so order is kept and nothing is delivered twice.
    for (let i = firstIndexAtOrAfter(this.history, fromRevision); i < this.history.length; i++) {
      enqueue(watch, this.history[i]);
    }
    this.watches.add(watch);
    return {
      cancel: async () => {
        watch.dead = true;
        watch.queue.length = 0;
        this.watches.delete(watch);
      },
    };
  }

  // ---- lifecycle ---------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) {
      w.dead = true;
      w.queue.length = 0;
    }
    this.watches.clear();
    // Leased keys stay in the log; replay drops them, which is what expiry would do.
    this.leases.clear();
    this.closeFiles();
  }

  // ---- internals ---------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError(`embedded store ${this.dataDir} is closed`);
  }

  private checkCompare(key: string, existing: Entry | undefined, ifModRevision: number | undefined): void {
    // A missing key has mod revision 0, so ifModRevision 0 means "must not exist".
    if (ifModRevision !== undefined && (existing?.modRevision ?? 0) !== ifModRevision) {
      throw new CompareFailedError(key);
    }
  }

  private revokeLease(id: string): void {
    const keys = this.leases.get(id);
    if (!keys || this.closed) return;
    this.leases.delete(id);
    if (keys.size > 0) this.commit([...keys].map((key) => ({ op: 'del' as const, key })));
  }

  /** Log durably, then apply, then notify. Returns the new revision. */
  private commit(ops: LogOp[], leaseId?: string): number {
    const rev = this.revision + 1;
    this.appendLog({ rev, ops });
    const events = this.apply(rev, ops, leaseId);
    this.revision = rev;
    this.recordHistory({ revision: rev, events });
    this.maybeSnapshot();
    return rev;
  }

  /** Apply one logged write to memory; returns its watch events. */
  private apply(rev: number, ops: LogOp[], leaseId?: string): WatchEvent[] {
    const events: WatchEvent[] = [];
    for (const op of ops) {
      const old = this.entries.get(op.key);
      if (old?.leaseId !== undefined) this.leases.get(old.leaseId)?.delete(op.key);
      if (op.op === 'put') {
        const entry: Entry = { value: op.value, createRevision: op.create, modRevision: rev, leaseId };
        this.entries.set(op.key, entry);
        if (leaseId !== undefined) this.leases.get(leaseId)?.add(op.key);
        events.push({ type: 'put', kv: toKeyValue(op.key, entry) });
      } else {
        this.entries.delete(op.key);
        events.push({ type: 'delete', key: op.key, modRevision: rev });
      }
    }
    return events;
  }

  private recordHistory(entry: HistoryEntry): void {
    this.history.push(entry);
    while (this.history.length > this.historyLimit) {
      const dropped = this.history.shift()!;
      this.minWatchRevision = dropped.revision + 1;
    }
    for (const w of this.watches) enqueue(w, entry);
  }

  private appendLog(record: LogRecord): void {
    if (this.logFd === undefined || this.logBroken) {
      throw new StoreUnavailableError(`embedded store ${this.dataDir}: log is not writable; restart the process`);
    }
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    try {
      writeFully(this.logFd, line);
      fs.fdatasyncSync(this.logFd);
    } catch (err) {
      // Cut off whatever part of the line made it, so the next append starts on a clean line.
      try {
        fs.ftruncateSync(this.logFd, this.logBytes);
      } catch {
        // The store cannot guarantee its log any more: refuse further writes.
        this.logBroken = true;
      }
      throw new StoreUnavailableError(`embedded store ${this.dataDir}: cannot write log: ${(err as Error).message}`, { cause: err });
    }
    this.logBytes += line.length;
    this.logRecords++;
  }

  private maybeSnapshot(): void {
    if (this.logRecords < this.snapshotEveryRecords && this.logBytes < this.snapshotEveryBytes) return;
    try {
      this.writeSnapshot();
    } catch (err) {
      // The log still holds everything; try again after the next write.
      log.error({ err: (err as Error).message, dataDir: this.dataDir }, 'embedded store snapshot failed');
    }
  }

  /** Persist the whole state atomically, then start an empty log. */
  private writeSnapshot(): void {
    const file = path.join(this.dataDir, EMBEDDED_FILES.snapshot);
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      // The same JSON as JSON.stringify(Snapshot), written in ~64 KB pieces rather than as one
      // string plus one Buffer of the whole store (2.8 MB each with 10k routes, 28 MB at 100k).
      const head: Omit<Snapshot, 'kvs'> = { version: 1, revision: this.revision };
      let chunk = `${JSON.stringify(head).slice(0, -1)},"kvs":[`;
      let first = true;
      for (const [key, e] of this.entries) {
        if (e.leaseId !== undefined) continue;
        chunk += (first ? '' : ',') + JSON.stringify(toKeyValue(key, e));
        first = false;
        if (chunk.length >= 65536) {
          writeFully(fd, Buffer.from(chunk));
          chunk = '';
        }
      }
      writeFully(fd, Buffer.from(`${chunk}]}`));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    fsyncDir(this.dataDir);
    // A crash before this truncation is harmless: replay skips records the snapshot covers.
    fs.ftruncateSync(this.logFd!, 0);
    fs.fsyncSync(this.logFd!);
    this.logBytes = 0;
    this.logRecords = 0;
  }

  /** Load snapshot + log into memory and open the log for appending. */
  private load(): void {
    const snapshotFile = path.join(this.dataDir, EMBEDDED_FILES.snapshot);
    if (fs.existsSync(snapshotFile)) {
      let snapshot: Snapshot;
      try {
        snapshot = JSON.parse(fs.readFileSync(snapshotFile, 'utf8')) as Snapshot;
      } catch (err) {
        // Snapshots are written atomically, so this is real damage, not a crash artefact.
        throw new Error(`embedded store: snapshot ${snapshotFile} is unreadable (${(err as Error).message}); restore it from a backup`, { cause: err });
      }
      for (const kv of snapshot.kvs) {
        this.entries.set(kv.key, { value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision });
      }
      this.revision = snapshot.revision;
    }

    const logFile = path.join(this.dataDir, EMBEDDED_FILES.log);
    const created = !fs.existsSync(logFile);
    const records = created ? { records: [], validBytes: 0 } : readLog(logFile);
    for (const record of records.records) {
      if (record.rev <= this.revision) continue; // already in the snapshot
      // Leased keys do not outlive the process that held the lease: drop them.
      const ops = record.ops.map((op): LogOp => (op.op === 'put' && op.leased ? { op: 'del', key: op.key } : op));
      this.apply(record.rev, ops);
      this.revision = record.rev;
    }

    this.logFd = fs.openSync(logFile, 'a');
    if (created) fsyncDir(this.dataDir);
    if (!created && fs.fstatSync(this.logFd).size !== records.validBytes) {
      log.warn({ dataDir: this.dataDir }, 'embedded store: dropping a torn record at the end of the log (crash during a write)');
      fs.ftruncateSync(this.logFd, records.validBytes);
      fs.fsyncSync(this.logFd);
    }
    this.logBytes = records.validBytes;
    this.logRecords = records.records.length;
    this.minWatchRevision = this.revision + 1;
  }

  private closeFiles(): void {
    if (this.logFd !== undefined) {
      fs.closeSync(this.logFd);
      this.logFd = undefined;
    }
    releaseLock(this.dataDir);
  }
}

// ---- helpers -------------------------------------------------------------------------

function toKeyValue(key: string, e: Entry): KeyValue {
  return { key, value: e.value, createRevision: e.createRevision, modRevision: e.modRevision };
}

/** Queue the part of `entry` under the watch's prefix, and schedule delivery. */
function enqueue(w: LocalWatch, entry: HistoryEntry): void {
  if (w.dead) return;
  const events = entry.events
    .filter((ev) => (ev.type === 'put' ? ev.kv.key : ev.key).startsWith(w.prefix))
    // Copies, so a consumer mutating its events cannot touch history or other watchers.
    .map((ev): WatchEvent => (ev.type === 'put' ? { type: 'put', kv: { ...ev.kv } } : { ...ev }));
  if (events.length === 0) return;
  w.queue.push({ revision: entry.revision, events });
  if (!w.scheduled) {
    w.scheduled = true;
    // Never call back into the consumer from inside the write that produced the events.
    setImmediate(() => {
      w.scheduled = false;
      while (!w.dead && w.queue.length > 0) {
        const batch = w.queue.shift()!;
        safely(() => w.callbacks.onEvents(batch.events, batch.revision), 'onEvents');
      }
    });
  }
}

function safely(fn: () => void, what: string): void {
  try {
    fn();
  } catch (err) {
    log.error({ err: (err as Error).message }, `watch ${what} callback threw`);
  }
}

function firstIndexAtOrAfter(history: HistoryEntry[], revision: number): number {
  let lo = 0;
  let hi = history.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (history[mid].revision < revision) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Parse store.log. Returns the records and the byte length of the valid part. Only a damaged
 * tail (a torn last append, or garbage after the last good record) is tolerated; a bad record
 * followed by good ones is corruption and stops the open.
 */
function readLog(file: string): { records: LogRecord[]; validBytes: number } {
  const buf = fs.readFileSync(file);
  const records: LogRecord[] = [];
  let validBytes = 0;
  let offset = 0;
  let badAt: number | undefined;
  while (offset < buf.length) {
    const nl = buf.indexOf(0x0a, offset);
    const end = nl === -1 ? buf.length : nl + 1;
    const record = nl === -1 ? undefined : parseRecord(buf.subarray(offset, nl).toString('utf8'));
    if (record) {
      if (badAt !== undefined) {
        throw new Error(`embedded store: log ${file} is corrupt at byte ${badAt} (valid records follow it); restore from a backup`);
      }
      records.push(record);
      validBytes = end;
    } else if (badAt === undefined) {
      badAt = offset;
    }
    offset = end;
  }
  return { records, validBytes };
}

function parseRecord(line: string): LogRecord | undefined {
  try {
    const r = JSON.parse(line) as LogRecord;
    return typeof r.rev === 'number' && Array.isArray(r.ops) ? r : undefined;
  } catch {
    return undefined;
  }
}

function writeFully(fd: number, buf: Buffer): void {
  let written = 0;
  while (written < buf.length) written += fs.writeSync(fd, buf, written, buf.length - written);
}

/** Make a rename or file creation in `dir` durable. */
function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function readLockPid(lockFile: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(lockFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The sockets that hold the data directories this process opened (see acquireLock). */
const lockSockets = new Map<string, net.Server>();

/**
 * The lock's name: an abstract unix socket (Linux; no file, gone with its last descriptor)
 * named after the directory's device and inode, so every path to the same directory (symlink,
 * bind mount) names the same lock.
 */
function lockSocketName(dir: string): string {
  const st = fs.statSync(dir, { bigint: true });
  return `\0portico-data-dir-lock:${st.dev}:${st.ino}`;
}

/** Binds the lock socket; undefined when another process (or this one) holds it. */
function bindLockSocket(name: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    // Nobody is meant to connect; a stray client is dropped.
    const server = net.createServer((c) => c.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)));
    // exclusive: a cluster worker binds itself instead of sharing the primary's handle.
    server.listen({ path: name, exclusive: true }, () => {
      server.unref();
      resolve(server);
    });
  });
}

function lockedError(dir: string, pid: number | undefined, here: boolean): DataDirLockedError {
  return new DataDirLockedError(
    `data directory ${dir} is in use by ${here ? 'this' : 'another'} Portico process (pid ${pid ?? 'unknown'}); ` +
    'stop it or set deployment.embedded.data_dir to another directory');
}

/**
 * Takes the data directory, or throws DataDirLockedError. On Linux the lock is an abstract
 * unix socket bound for as long as the store is open: the kernel releases it when the owner
 * exits however it exits (kill -9 included, and before the owner is reaped, so a zombie holds
 * nothing), a reused pid holds nothing, and two starting processes cannot both bind it. The
 * lock file then only names the owner's pid, for the message a second process gets.
 * (Processes in different network namespaces do not see each other's abstract sockets; two
 * containers must not share one data directory.) Elsewhere the lock file itself is the lock,
 * judged by whether its pid is alive.
 */
async function acquireLock(dir: string): Promise<void> {
  const lockFile = path.join(dir, EMBEDDED_FILES.lock);
  if (openedHere.has(dir)) throw lockedError(dir, process.pid, true);
  if (process.platform !== 'linux') {
    acquirePidLock(dir, lockFile);
    return;
  }
  const server = await bindLockSocket(lockSocketName(dir));
  if (!server) throw lockedError(dir, readLockPid(lockFile), openedHere.has(dir));
  lockSockets.set(dir, server);
  openedHere.add(dir);
  try {
    // Whatever a dead owner left is replaced; written whole (rename), so a reader never sees it empty.
    const tmp = `${lockFile}.${process.pid}.${Date.now()}`;
    fs.writeFileSync(tmp, `${process.pid}\n`);
    fs.renameSync(tmp, lockFile);
  } catch (err) {
    releaseLock(dir);
    throw err;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * The lock where there are no abstract sockets: a lock file created complete (pid already
 * inside) by hard-linking a private temp file, taken over when its pid is not alive.
 */
function acquirePidLock(dir: string, lockFile: string): void {
  const tmp = `${lockFile}.${process.pid}.${Date.now()}`;
  fs.writeFileSync(tmp, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        createLockFile(tmp, lockFile);
        openedHere.add(dir);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const pid = readLockPid(lockFile);
      if (pid !== undefined && pid !== process.pid && isAlive(pid)) throw lockedError(dir, pid, false);
      log.warn({ dataDir: dir, stalePid: pid }, 'embedded store: taking over a stale lock (its process is gone)');
      fs.rmSync(lockFile, { force: true });
    }
    throw new DataDirLockedError(`data directory ${dir}: could not take the lock ${lockFile} (contended)`);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Create `lockFile` with `tmp`'s content, failing with EEXIST if it exists. */
function createLockFile(tmp: string, lockFile: string): void {
  try {
    fs.linkSync(tmp, lockFile);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    // A filesystem without hard links: exclusive create, then write the pid.
    fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
  }
}

function releaseLock(dir: string): void {
  if (!openedHere.delete(dir)) return;
  const lockFile = path.join(dir, EMBEDDED_FILES.lock);
  if (readLockPid(lockFile) === process.pid) fs.rmSync(lockFile, { force: true });
  // After the file: while the socket is bound, no other process can have written its pid there.
  lockSockets.get(dir)?.close();
  lockSockets.delete(dir);
}
