import type net from 'node:net';

/**
 * Output written while the event loop handles one batch of I/O events is sent together, in
 * the check phase right after them (setImmediate), instead of one send per callback.
 * Why: see bench/README.md ("Sends in batches").
 */
const pending: net.Socket[] = [];
const marked = new WeakSet<net.Socket>();

function flush(): void {
  // (a socket corked again while flushing lands in the next batch)
  const list = pending.splice(0);
  for (const s of list) {
    marked.delete(s);
    s.uncork();
  }
}

/** Corks `socket` until the end of this batch of I/O events (at most once per batch). */
export function holdWrites(socket: net.Socket): void {
  if (marked.has(socket)) return;
  marked.add(socket);
  socket.cork();
  if (pending.push(socket) === 1) setImmediate(flush);
}
