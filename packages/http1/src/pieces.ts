/** Room in one slab: some hundreds of heads. */
const SLAB_SIZE = 64 * 1024;
/**
 * Strings up to this length are copied by a JS loop; longer ones by one native latin-1 write,
 * whose call costs about as much as copying ~50 bytes by hand.
 */
const LOOP_MAX = 48;

/**
 * Builds request and response heads as latin-1 bytes, written straight into a shared slab.
 *
 * Why not strings: a joined head is a fresh string of the head's length plus the join's own
 * array, and the socket write (or the batch's coalescing) then copies it into bytes anyway.
 * Those two were ~22 % of the bytes allocated per proxied request, and every allocated byte
 * brings the next scavenge, a pause that delays the requests behind it. Here
 * a head costs one Buffer view.
 *
 * A finished head's bytes are never written again: later heads go after it, and a full slab
 * is replaced, not reused (a socket may still hold a view on it; the slab is freed with its
 * last view). Characters above U+00FF keep their low byte, as node's latin-1 writes do; callers
 * validate heads to latin-1 first. One builder serves one head at a time (not reentrant); a
 * build that threw half-way is discarded by the next `start`.
 */
export class HeadBytes {
  private slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
  /** Where the head being built starts. */
  private begin = 0;
  private end = 0;

  start(): this {
    this.end = this.begin;
    return this;
  }

  add(s: string): this {
    const n = s.length;
    if (this.end + n > this.slab.length) this.newSlab(n);
    const slab = this.slab;
    const at = this.end;
    if (n > LOOP_MAX) slab.write(s, at, n, 'latin1');
    else for (let i = 0; i < n; i++) slab[at + i] = s.charCodeAt(i);
    this.end = at + n;
    return this;
  }

  /** The head built since `start`. */
  finish(): Buffer {
    const head = this.slab.subarray(this.begin, this.end);
    this.begin = this.end;
    return head;
  }

  /** Moves the head so far to a new slab with room for `n` more bytes (and later heads). */
  private newSlab(n: number): void {
    const sofar = this.end - this.begin;
    const next = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, 2 * (sofar + n)));
    this.slab.copy(next, 0, this.begin, this.end);
    this.slab = next;
    this.begin = 0;
    this.end = sofar;
  }
}
