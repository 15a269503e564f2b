import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { componentLogger, type KeyValue, type Logger } from '@portico/core';

/**
 * The local snapshot (SPEC §5.5): the data plane's last applied configuration on disk, so a
 * node that starts while the store is unreachable can serve instead of answering 404.
 *
 * It holds the items in their stored form (sensitive fields still encrypted at rest), never the
 * decrypted values, and the file is private to the process user.
 */

const FORMAT = 1;

export interface SnapshotContent {
  revision: number;
  /** Key prefix the items were read under; a snapshot for another prefix is ignored. */
  prefix: string;
  items: KeyValue[];
}

interface SnapshotFileV1 extends SnapshotContent {
  format: typeof FORMAT;
  /** Unix seconds; for operators reading the file. */
  written_at: number;
}

function isKeyValue(v: unknown): v is KeyValue {
  const kv = v as KeyValue;
  return typeof kv === 'object' && kv !== null && typeof kv.key === 'string' && typeof kv.value === 'string'
    && Number.isSafeInteger(kv.createRevision) && Number.isSafeInteger(kv.modRevision);
}

/**
 * Reads a snapshot written by SnapshotWriter. Missing file: undefined. A file that is not a
 * well-formed snapshot for `prefix` is ignored with a warning rather than stopping start-up —
 * the store is the source of truth and the node converges from it.
 */
export function readSnapshot(file: string, prefix: string, log: Logger = componentLogger('snapshot')): SnapshotContent | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    log.warn({ file, err: (err as Error).message }, 'cannot read the local snapshot; ignoring it');
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as SnapshotFileV1;
    if (parsed.format !== FORMAT) throw new Error(`unknown format ${String(parsed.format)}`);
    if (!Number.isSafeInteger(parsed.revision) || parsed.revision < 0) throw new Error('bad revision');
    if (!Array.isArray(parsed.items) || !parsed.items.every(isKeyValue)) throw new Error('bad items');
    if (parsed.prefix !== prefix) {
      log.warn({ file, snapshotPrefix: parsed.prefix, prefix }, 'local snapshot is for another prefix; ignoring it');
      return undefined;
    }
    return { revision: parsed.revision, prefix: parsed.prefix, items: parsed.items };
  } catch (err) {
    log.warn({ file, err: (err as Error).message }, 'local snapshot is corrupt; ignoring it');
    return undefined;
  }
}

/**
 * Writes `content` so that a reader sees either the old file or the new one, never a torn
 * one, even across a crash or power loss: write a temp file in the same directory, fsync it,
 * rename over the target, fsync the directory (the rename itself must be durable).
 */
export async function writeSnapshotAtomically(file: string, content: SnapshotContent): Promise<void> {
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const body: SnapshotFileV1 = { format: FORMAT, written_at: Math.floor(Date.now() / 1000), ...content };
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(body));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
  const dh = await fsp.open(dir, 'r');
  try {
    await dh.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is then as durable as they allow.
  } finally {
    await dh.close();
  }
}

export interface SnapshotWriterOptions {
  file: string;
  prefix: string;
  /** What to save: the applied items in stored form and their revision (ConfigSync.storedItems). */
  source: () => { revision: number; items: KeyValue[] };
  /** At most one write per this interval (default 1000 ms): a burst of changes costs one write. */
  minIntervalMs?: number;
  logger?: Logger;
}

/**
 * Saves the applied configuration after changes, throttled: the first change after a quiet
 * period is written at once, later ones are coalesced into one write at the end of the
 * interval. Never more than one write in flight. A failed write is logged and retried on the
 * next change (the node keeps serving; only its ability to start without the store suffers).
 */
export class SnapshotWriter {
  private readonly minIntervalMs: number;
  private readonly log: Logger;
  private lastWriteAt = 0;
  private lastWrittenRevision = -1;
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private dirty = false;
  private stopped = false;
  /** Writes completed, for tests and the log. */
  writes = 0;

  constructor(private readonly opts: SnapshotWriterOptions) {
    this.minIntervalMs = opts.minIntervalMs ?? 1000;
    this.log = opts.logger ?? componentLogger('snapshot');
  }

  /** The configuration changed: schedule a write. */
  notify(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.timer || this.inFlight) return; // the pending write or its follow-up will pick it up
    const wait = Math.max(0, this.lastWriteAt + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow();
    }, wait);
    this.timer.unref();
  }

  /** Writes any pending change now and stops; later notify() calls are ignored. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (this.dirty) await this.writeNow(true);
  }

  private async writeNow(final = false): Promise<void> {
    if (this.inFlight || (this.stopped && !final)) return;
    this.dirty = false;
    const { revision, items } = this.opts.source();
    if (revision === this.lastWrittenRevision) return;
    this.lastWriteAt = Date.now();
    this.inFlight = writeSnapshotAtomically(this.opts.file, { revision, prefix: this.opts.prefix, items }).then(
      () => {
        this.lastWrittenRevision = revision;
        this.writes++;
        this.log.debug({ file: this.opts.file, revision, items: items.length }, 'local snapshot written');
      },
      (err) => this.log.warn({ file: this.opts.file, err: (err as Error).message }, 'cannot write the local snapshot'),
    );
    await this.inFlight;
    this.inFlight = undefined;
    // Changes that arrived during the write get their own (throttled) write.
    if (this.dirty && !this.stopped) {
      this.dirty = false;
      this.notify();
    }
  }
}
