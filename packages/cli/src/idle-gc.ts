import v8 from 'node:v8';
import vm from 'node:vm';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { componentLogger, type Logger } from '@portico/core';

/**
 * Gives memory back once a node goes quiet (`apisix.idle_gc`, on by default).
 *
 * Why: under load V8 grows the young generation to its maximum (two 16 MB semi-spaces) and the
 * old space to a multiple of the live heap, and it keeps both after the load stops: V8's own
 * memory reducer only starts after a mark-compact, which a node that fits in its old-space limit
 * may never run. Measured with 10k routes: 128–151 MB RSS at rest after loading or after a load
 * run, 99–109 MB after idle collections (docs/performance.md, "Memory at rest").
 *
 * Two collections, each only when it has something to give back:
 * - a young-generation one (a scavenge, 1–3 ms) when the young generation is large: V8 shrinks it
 *   in any GC that sees a low allocation rate over its last ~5 s, hence the wait before collecting;
 * - a full one (non-incremental: 60–100 ms with 10k routes on our bench machine) when the old
 *   space has grown since the last one, for the dead objects promoted under load.
 * Both run only once the event loop has been almost idle for `idleTicks` samples, so they can
 * delay only the odd request that arrives during them.
 */
export interface IdleGcOptions {
  /** How often the loop's utilisation is sampled. */
  intervalMs?: number;
  /** Consecutive idle samples before collecting: enough for V8's ~5 s allocation-rate window. */
  idleTicks?: number;
  /** A sample is idle when the event loop was busy for less than this share of it. */
  maxUtilization?: number;
  /** Collection rounds per quiet period at most (in case V8 declines to shrink the young generation). */
  maxCollections?: number;
  /** The heap worth collecting: a young generation above this many bytes… */
  newSpaceBytes?: number;
  /** …or an old space whose used bytes grew by this much since the last idle collection. */
  oldGrowthBytes?: number;
  /** Test seams: the GC, the heap figures and the utilisation sampler. */
  collect?: (type: GcType) => void;
  heap?: () => HeapFigures;
  utilization?: () => number;
  logger?: Logger;
}

export type GcType = 'minor' | 'major';

export interface HeapFigures {
  newSpaceBytes: number;
  oldUsedBytes: number;
}

export function heapFigures(): HeapFigures {
  let newSpaceBytes = 0;
  let oldUsedBytes = 0;
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space') newSpaceBytes = s.space_size;
    else if (s.space_name === 'old_space') oldUsedBytes = s.space_used_size;
  }
  return { newSpaceBytes, oldUsedBytes };
}

/**
 * V8's `gc()` without starting node with --expose-gc: the flag applies to contexts created after
 * it is set, so a fresh vm context carries the function; the main context gets no global `gc`.
 */
export function exposedGc(): (type: GcType) => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (opts?: { type: 'minor' }) => void;
  // Node 20's V8 takes `{ type: 'minor' }` for a scavenge; `{ type: 'major' }` did not free old-space
  // garbage there (idle-gc.test.ts checks), while the plain call is a full, compacting GC.
  return (type) => (type === 'minor' ? gc({ type: 'minor' }) : gc());
}

/** Event-loop utilisation since the previous call (0 = idle, 1 = busy throughout). */
function utilizationSampler(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

export class IdleGc {
  private readonly intervalMs: number;
  private readonly idleTicks: number;
  private readonly maxUtilization: number;
  private readonly maxCollections: number;
  private readonly newSpaceBytes: number;
  private readonly oldGrowthBytes: number;
  private readonly collect: (type: GcType) => void;
  private readonly heap: () => HeapFigures;
  private readonly utilization: () => number;
  private readonly log: Logger;
  private timer?: NodeJS.Timeout;
  private quietTicks = 0;
  private collectionsThisQuiet = 0;
  private oldUsedAfterLast: number;
  /** Collections run so far, by kind (tests, debug log). */
  readonly collections = { minor: 0, major: 0 };

  constructor(opts: IdleGcOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 3000;
    this.idleTicks = opts.idleTicks ?? 3;
    this.maxUtilization = opts.maxUtilization ?? 0.01;
    this.maxCollections = opts.maxCollections ?? 3;
    this.newSpaceBytes = opts.newSpaceBytes ?? 4 * 1024 * 1024;
    this.oldGrowthBytes = opts.oldGrowthBytes ?? 8 * 1024 * 1024;
    this.collect = opts.collect ?? exposedGc();
    this.heap = opts.heap ?? heapFigures;
    this.utilization = opts.utilization ?? utilizationSampler();
    this.log = opts.logger ?? componentLogger('idle-gc');
    this.oldUsedAfterLast = this.heap().oldUsedBytes;
  }

  start(): this {
    if (!this.timer) {
      this.utilization(); // the first sample starts from now, not from process start
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref(); // never keeps a stopping process alive
    }
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One sample; public so tests can drive it without waiting for the timer. */
  tick(): void {
    if (this.utilization() > this.maxUtilization) {
      // Busy again: a new quiet period starts from zero, with its own collection budget.
      this.quietTicks = 0;
      this.collectionsThisQuiet = 0;
      return;
    }
    this.quietTicks++;
    if (this.quietTicks < this.idleTicks || this.collectionsThisQuiet >= this.maxCollections) return;
    const before = this.heap();
    const young = before.newSpaceBytes > this.newSpaceBytes;
    const old = before.oldUsedBytes > this.oldUsedAfterLast + this.oldGrowthBytes;
    if (!young && !old) return;
    const t0 = performance.now();
    if (young) this.collect('minor');
    if (old) this.collect('major');
    this.utilization(); // the collections' own time is not traffic: the next sample starts after them
    const after = this.heap();
    if (young) this.collections.minor++;
    if (old) {
      this.collections.major++;
      this.oldUsedAfterLast = after.oldUsedBytes;
    }
    this.collectionsThisQuiet++;
    this.log.debug({
      ms: Math.round(performance.now() - t0),
      kinds: [young && 'minor', old && 'major'].filter(Boolean),
      newSpaceMB: [mb(before.newSpaceBytes), mb(after.newSpaceBytes)],
      oldUsedMB: [mb(before.oldUsedBytes), mb(after.oldUsedBytes)],
    }, 'idle collection');
  }
}

function mb(bytes: number): number {
  return Math.round(bytes / 104857.6) / 10;
}
