import { waitFor } from '@portico/testkit';
import { IdleGc, exposedGc, heapFigures, type GcType, type HeapFigures } from '../src/idle-gc';

const MB = 1024 * 1024;

/**
 * An IdleGc driven by hand: scripted utilisation samples, a fake heap that the fake GC shrinks:
 * a minor collection shrinks the young generation (from its `shrinkOn`-th call: V8 shrinks it
 * only once it has seen a low allocation rate), a major one frees the old space's garbage.
 */
function scripted(opts: { heap?: HeapFigures; shrinkOn?: number } = {}) {
  const heap: HeapFigures = opts.heap ?? { newSpaceBytes: 32 * MB, oldUsedBytes: 50 * MB };
  let busy = 0;
  let minors = 0;
  const calls: GcType[] = [];
  // The process started with less old space in use than the heap given: it has grown since.
  const startedWith = heap.oldUsedBytes;
  heap.oldUsedBytes = Math.min(startedWith, 20 * MB);
  const gc = new IdleGc({
    idleTicks: 3,
    maxCollections: 3,
    utilization: () => busy,
    heap: () => ({ ...heap }),
    collect: (type) => {
      calls.push(type);
      if (type === 'major') heap.oldUsedBytes = 34 * MB;
      else if (++minors >= (opts.shrinkOn ?? 1)) heap.newSpaceBytes = 1 * MB;
    },
  });
  heap.oldUsedBytes = startedWith;
  return {
    gc,
    heap,
    calls,
    setBusy: (u: number) => (busy = u),
    ticks: (n: number) => { for (let i = 0; i < n; i++) gc.tick(); },
  };
}

describe('IdleGc', () => {
  it('collects only after idleTicks quiet samples in a row', () => {
    const s = scripted();
    s.ticks(2);
    expect(s.calls).toEqual([]);
    s.setBusy(0.5);
    s.ticks(1); // traffic: the quiet period starts again
    s.setBusy(0);
    s.ticks(2);
    expect(s.calls).toEqual([]);
    s.ticks(1);
    // Both parts had something to give back: the young generation (cheap) first, then the old space.
    expect(s.calls).toEqual(['minor', 'major']);
    expect(s.heap).toEqual({ newSpaceBytes: 1 * MB, oldUsedBytes: 34 * MB });
    expect(s.gc.collections).toEqual({ minor: 1, major: 1 });
  });

  it('runs only the collection that has something to give back', () => {
    // Old space not grown since start: a young-generation collection alone (a scavenge, not a full GC).
    const young = scripted({ heap: { newSpaceBytes: 32 * MB, oldUsedBytes: 20 * MB } });
    (young.gc as unknown as { oldUsedAfterLast: number }).oldUsedAfterLast = 20 * MB;
    young.ticks(3);
    expect(young.calls).toEqual(['minor']);
    // A small young generation but a grown old space: a full collection alone.
    const old = scripted({ heap: { newSpaceBytes: 1 * MB, oldUsedBytes: 50 * MB } });
    (old.gc as unknown as { oldUsedAfterLast: number }).oldUsedAfterLast = 30 * MB;
    old.ticks(3);
    expect(old.calls).toEqual(['major']);
  });

  it('does not collect a heap that has not grown since the last collection', () => {
    const s = scripted();
    s.ticks(3);
    expect(s.calls).toEqual(['minor', 'major']);
    s.ticks(10);
    expect(s.calls).toHaveLength(2);
    // Traffic, then quiet again: the old space grew by more than 8 MB, so it is worth one more.
    s.setBusy(0.3);
    s.ticks(1);
    s.heap.oldUsedBytes = 43 * MB;
    s.setBusy(0);
    s.ticks(3);
    expect(s.calls).toEqual(['minor', 'major', 'major']);
    // Grown by less than the threshold, young generation small: left alone.
    s.setBusy(0.3);
    s.ticks(1);
    s.heap.oldUsedBytes = 36 * MB;
    s.setBusy(0);
    s.ticks(5);
    expect(s.calls).toHaveLength(3);
  });

  it('collects the young generation again on the next quiet sample while it has not shrunk, at most maxCollections rounds per quiet period', () => {
    const shrinksLate = scripted({ shrinkOn: 2 });
    shrinksLate.ticks(3);
    expect(shrinksLate.calls).toEqual(['minor', 'major']);
    shrinksLate.ticks(1);
    expect(shrinksLate.calls).toEqual(['minor', 'major', 'minor']);
    shrinksLate.ticks(5);
    expect(shrinksLate.calls).toHaveLength(3);

    const neverShrinks = scripted({ shrinkOn: Infinity });
    neverShrinks.ticks(20);
    expect(neverShrinks.gc.collections).toEqual({ minor: 3, major: 1 });
    neverShrinks.setBusy(0.2);
    neverShrinks.ticks(1);
    neverShrinks.setBusy(0);
    neverShrinks.ticks(20);
    expect(neverShrinks.gc.collections).toEqual({ minor: 6, major: 1 });
  });

  it('a sample just above maxUtilization counts as traffic', () => {
    const s = scripted();
    s.setBusy(0.011);
    s.ticks(10);
    expect(s.calls).toEqual([]);
    s.setBusy(0.009);
    s.ticks(3);
    expect(s.calls).toEqual(['minor', 'major']);
  });

  it('its own collection time is not taken for traffic', () => {
    // The real sampler would see a full GC's tens of ms as loop activity; IdleGc resamples right
    // after collecting, so another round (young generation not yet shrunk) follows at once.
    let samples = 0;
    let afterCollect = false;
    const heap: HeapFigures = { newSpaceBytes: 32 * MB, oldUsedBytes: 50 * MB };
    let minors = 0;
    const gc = new IdleGc({
      utilization: () => {
        samples++;
        const u = afterCollect ? 0.5 : 0; // the interval that contained the GC looks busy
        afterCollect = false;
        return u;
      },
      heap: () => ({ ...heap }),
      collect: (type) => {
        afterCollect = true;
        if (type === 'minor' && ++minors === 2) heap.newSpaceBytes = MB;
      },
    });
    for (let i = 0; i < 4; i++) gc.tick();
    expect(gc.collections.minor).toBe(2);
    expect(samples).toBeGreaterThanOrEqual(6);
  });

  it('with the real V8 gc: a full collection frees old-space garbage; no global gc is left behind', () => {
    const collect = exposedGc();
    expect(typeof collect).toBe('function');
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    // Garbage that survives into the old space, then becomes unreachable. Held in an object's
    // property: V8 drops a local variable from the GC roots after its last read.
    const holder: { items?: Array<{ n: number; s: string }> } = { items: [] };
    for (let i = 0; i < 400_000; i++) holder.items!.push({ n: i, s: `item-${i}` });
    collect('minor');
    collect('minor'); // survived two scavenges: promoted
    const withGarbage = heapFigures().oldUsedBytes;
    expect(holder.items).toHaveLength(400_000);
    holder.items = undefined;
    const gc = new IdleGc({ utilization: () => 0, collect, idleTicks: 1, oldGrowthBytes: 0, newSpaceBytes: Infinity });
    (gc as unknown as { oldUsedAfterLast: number }).oldUsedAfterLast = 0;
    gc.tick();
    expect(gc.collections).toEqual({ minor: 0, major: 1 });
    expect(heapFigures().oldUsedBytes).toBeLessThan(withGarbage - 10 * MB);
  });

  it('with the real V8 gc: a quiet process gets its young generation shrunk by a scavenge', async () => {
    const collect = exposedGc();
    // Allocate fast enough for V8 to grow the young generation towards its maximum.
    let sink: unknown[] = [];
    for (let i = 0; i < 3_000_000; i++) {
      sink.push({ i });
      if (sink.length > 50_000) sink = [];
    }
    const grown = heapFigures().newSpaceBytes;
    expect(grown).toBeGreaterThan(4 * MB);
    // V8 shrinks it in a GC that sees a low allocation rate over its last ~5 s: sample as the
    // timer would, each time the loop is idle, until it has (or the deadline passes).
    const gc = new IdleGc({ utilization: () => 0, collect, idleTicks: 1, maxCollections: 100, oldGrowthBytes: Infinity });
    await waitFor(() => {
      gc.tick();
      return heapFigures().newSpaceBytes <= 4 * MB;
    }, { timeoutMs: 30_000, intervalMs: 1000, what: 'the young generation to shrink' });
    expect(gc.collections.major).toBe(0);
    expect(gc.collections.minor).toBeGreaterThan(0);
    expect(sink.length).toBeLessThanOrEqual(50_001);
  });

  it('start() samples on a timer that does not keep the process alive; stop() ends it', () => {
    const gc = new IdleGc({ intervalMs: 60_000, utilization: () => 0, collect: () => {}, heap: () => ({ newSpaceBytes: 0, oldUsedBytes: 0 }) });
    gc.start();
    const timer = (gc as unknown as { timer?: NodeJS.Timeout }).timer;
    expect(timer?.hasRef()).toBe(false);
    gc.stop();
    expect((gc as unknown as { timer?: NodeJS.Timeout }).timer).toBeUndefined();
  });
});
