import { IdleGc, exposedGc, heapFigures, type HeapFigures } from '../src/idle-gc';

const MB = 1024 * 1024;

/** An IdleGc driven by hand: scripted utilisation samples, a fake heap that the fake GC shrinks. */
function scripted(opts: { heap?: HeapFigures; shrinkOn?: number } = {}) {
  const heap: HeapFigures = opts.heap ?? { newSpaceBytes: 32 * MB, oldUsedBytes: 50 * MB };
  let busy = 0;
  let calls = 0;
  const gc = new IdleGc({
    idleTicks: 3,
    maxCollections: 3,
    utilization: () => busy,
    heap: () => ({ ...heap }),
    collect: () => {
      calls++;
      heap.oldUsedBytes = 34 * MB;
      // V8 shrinks the young generation only once it has seen a low allocation rate.
      if (calls >= (opts.shrinkOn ?? 1)) heap.newSpaceBytes = 1 * MB;
    },
  });
  return {
    gc,
    heap,
    setBusy: (u: number) => (busy = u),
    ticks: (n: number) => { for (let i = 0; i < n; i++) gc.tick(); },
  };
}

describe('IdleGc', () => {
  it('collects only after idleTicks quiet samples in a row', () => {
    const s = scripted();
    s.ticks(2);
    expect(s.gc.collections).toBe(0);
    s.setBusy(0.5);
    s.ticks(1); // traffic: the quiet period starts again
    s.setBusy(0);
    s.ticks(2);
    expect(s.gc.collections).toBe(0);
    s.ticks(1);
    expect(s.gc.collections).toBe(1);
    expect(s.heap.newSpaceBytes).toBe(1 * MB);
  });

  it('does not collect a heap that has not grown since the last collection', () => {
    const s = scripted();
    s.ticks(3);
    expect(s.gc.collections).toBe(1);
    s.ticks(10);
    expect(s.gc.collections).toBe(1);
    // Traffic, then quiet again: the old space grew by more than 8 MB, so it is worth one more.
    s.setBusy(0.3);
    s.ticks(1);
    s.heap.oldUsedBytes = 43 * MB;
    s.setBusy(0);
    s.ticks(3);
    expect(s.gc.collections).toBe(2);
    // Grown by less than the threshold, young generation small: left alone.
    s.setBusy(0.3);
    s.ticks(1);
    s.heap.oldUsedBytes = 36 * MB;
    s.setBusy(0);
    s.ticks(5);
    expect(s.gc.collections).toBe(2);
  });

  it('collects again on the next quiet sample while the young generation has not shrunk, at most maxCollections per quiet period', () => {
    const shrinksLate = scripted({ shrinkOn: 2 });
    shrinksLate.ticks(3);
    expect(shrinksLate.gc.collections).toBe(1);
    shrinksLate.ticks(1);
    expect(shrinksLate.gc.collections).toBe(2);
    shrinksLate.ticks(5);
    expect(shrinksLate.gc.collections).toBe(2);

    const neverShrinks = scripted({ shrinkOn: Infinity });
    neverShrinks.ticks(20);
    expect(neverShrinks.gc.collections).toBe(3);
    neverShrinks.setBusy(0.2);
    neverShrinks.ticks(1);
    neverShrinks.setBusy(0);
    neverShrinks.ticks(20);
    expect(neverShrinks.gc.collections).toBe(6);
  });

  it('a sample just above maxUtilization counts as traffic', () => {
    const s = scripted();
    s.setBusy(0.011);
    s.ticks(10);
    expect(s.gc.collections).toBe(0);
    s.setBusy(0.009);
    s.ticks(3);
    expect(s.gc.collections).toBe(1);
  });

  it('its own collection time is not taken for traffic', () => {
    // The real sampler would see the GC's tens of ms as loop activity; IdleGc resamples right
    // after collecting, so a second collection (young generation not yet shrunk) follows at once.
    let samples = 0;
    let afterCollect = false;
    const heap: HeapFigures = { newSpaceBytes: 32 * MB, oldUsedBytes: 50 * MB };
    let calls = 0;
    const gc = new IdleGc({
      utilization: () => {
        samples++;
        const u = afterCollect ? 0.5 : 0; // the interval that contained the GC looks busy
        afterCollect = false;
        return u;
      },
      heap: () => ({ ...heap }),
      collect: () => {
        calls++;
        afterCollect = true;
        if (calls === 2) heap.newSpaceBytes = MB;
      },
    });
    for (let i = 0; i < 4; i++) gc.tick();
    expect(gc.collections).toBe(2);
    expect(samples).toBeGreaterThanOrEqual(6);
  });

  it('with the real V8 gc: frees old-space garbage and leaves no global gc behind', () => {
    const collect = exposedGc();
    expect(typeof collect).toBe('function');
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    // Garbage that survives scavenges into the old space, then becomes unreachable.
    let keep: Array<{ n: number; s: string }> | undefined = [];
    for (let i = 0; i < 400_000; i++) keep.push({ n: i, s: `item-${i}` });
    collect(); // promote it
    const withGarbage = heapFigures().oldUsedBytes;
    keep = undefined;
    const gc = new IdleGc({ utilization: () => 0, collect, idleTicks: 1, oldGrowthBytes: 0, newSpaceBytes: 0 });
    gc.tick();
    expect(gc.collections).toBe(1);
    expect(heapFigures().oldUsedBytes).toBeLessThan(withGarbage - 10 * MB);
    expect(keep).toBeUndefined();
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
