/**
 * A reusable list of string pieces, joined into one flat string. Building a head this way
 * allocates only the result: `+=` makes a chain of concatenations that the socket write then
 * flattens into a copy, and a fresh array (or one emptied with `length = 0`, which drops its
 * storage) regrows for every head. One builder serves one head at a time (not reentrant).
 */
export class StringPieces {
  private list: string[] = [];
  private n = 0;
  /** Slots written since the last join (a build that threw included): cleared to '' so that join() sees only this head's pieces. */
  private used = 0;

  start(): this {
    this.n = 0;
    return this;
  }

  add(s: string): this {
    this.list[this.n++] = s;
    if (this.n > this.used) this.used = this.n;
    return this;
  }

  join(): string {
    const list = this.list;
    for (let i = this.n; i < this.used; i++) list[i] = '';
    const text = list.join('');
    // A head with very many headers does not leave every later join walking its slots.
    if (list.length > 512) this.list = [];
    this.used = list === this.list ? this.n : 0;
    return text;
  }
}
