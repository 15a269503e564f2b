import type net from 'node:net';

/**
 * Output written while the event loop handles one batch of I/O events is sent together, in
 * the check phase right after them (setImmediate), instead of one send per callback: a send
 * then seldom finds its reader's CPU halted, and waking one costs the sender dearly in a VM.
 * Measured in bench/README.md ("Sends in batches").
 */
const corked: net.Socket[] = [];
const marked = new WeakSet<net.Socket>();
const callbacks: Array<() => void> = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  // (what is held again from here on lands in the next batch)
  const sockets = corked.splice(0);
  const fns = callbacks.splice(0);
  for (const s of sockets) {
    marked.delete(s);
    s.uncork();
  }
  for (const fn of fns) fn();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
}

/** Corks `socket` until the end of this batch of I/O events (once per batch). */
export function holdWrites(socket: net.Socket): void {
  if (marked.has(socket)) return;
  marked.add(socket);
  socket.cork();
  corked.push(socket);
  schedule();
}

/** Runs `fn` at the end of this batch of I/O events (once per call: the caller dedupes). */
export function atBatchEnd(fn: () => void): void {
  callbacks.push(fn);
  schedule();
}
