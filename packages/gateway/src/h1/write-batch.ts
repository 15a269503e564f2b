import type net from 'node:net';

/**
 * Output written while the event loop handles one batch of I/O events is sent together, in
 * the check phase right after them (setImmediate), instead of one send per callback: a send
 * then seldom finds its reader's CPU halted, and waking one costs the sender dearly in a VM.
 * Measured in bench/README.md ("Sends in batches").
 */
const pending: net.Socket[] = [];
const flushed: Array<(() => void) | undefined> = [];
const marked = new WeakSet<net.Socket>();

function flush(): void {
  // (a socket held again by a callback below lands in the next batch)
  const sockets = pending.splice(0);
  const callbacks = flushed.splice(0);
  for (let i = 0; i < sockets.length; i++) {
    marked.delete(sockets[i]);
    sockets[i].uncork();
    callbacks[i]?.();
  }
}

/**
 * Corks `socket` until the end of this batch of I/O events (once per batch); `onFlushed` runs
 * right after its uncork (the first one given in the batch counts).
 */
export function holdWrites(socket: net.Socket, onFlushed?: () => void): void {
  if (marked.has(socket)) return;
  marked.add(socket);
  socket.cork();
  flushed.push(onFlushed);
  if (pending.push(socket) === 1) setImmediate(flush);
}
