/**
 * The end of a batch of I/O events: the check phase right after the loop has handled them
 * (setImmediate). The h1 server and client connections keep what they write during the batch
 * and send it from here, instead of one send per callback: a send then seldom finds its
 * reader's CPU halted, and waking one costs the sender dearly in a VM. Measured in
 * bench/README.md ("Sends in batches").
 */
const callbacks: Array<() => void> = [];

function flush(): void {
  // (what is added from here on runs after the next batch)
  for (const fn of callbacks.splice(0)) fn();
}

/** Runs `fn` at the end of this batch of I/O events (once per call: the caller dedupes). */
export function atBatchEnd(fn: () => void): void {
  if (callbacks.push(fn) === 1) setImmediate(flush);
}
