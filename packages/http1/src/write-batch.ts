/**
 * The end of a batch of I/O events: the check phase right after the loop has handled them
 * (setImmediate). The h1 server and client connections keep what they write during the batch
 * and send it from here, instead of one send per callback: a send then seldom finds its
 * reader's CPU halted, and waking one costs the sender dearly in a VM (an exit to the
 * hypervisor inside the send). Measurements: docs/performance.md, "Sends in batches".
 */
// Two lists used in turn, so that a batch allocates no new one (this runs for every request).
let pending: Array<(() => void) | undefined> = [];
let running: Array<(() => void) | undefined> = [];
let count = 0;

function flush(): void {
  // (what is added from here on runs after the next batch)
  const run = pending;
  const n = count;
  pending = running;
  running = run;
  count = 0;
  for (let i = 0; i < n; i++) {
    const fn = run[i]!;
    run[i] = undefined;
    fn();
  }
}

/** Runs `fn` at the end of this batch of I/O events (once per call: the caller dedupes). */
export function atBatchEnd(fn: () => void): void {
  pending[count++] = fn;
  if (count === 1) setImmediate(flush);
}
