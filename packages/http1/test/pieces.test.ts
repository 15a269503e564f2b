import { HeadBytes } from '../src/pieces';

/** h1/pieces.ts: the builder of request and response heads, as latin-1 bytes in shared slabs. */
describe('HeadBytes', () => {
  const latin1 = (b: Buffer): string => b.toString('latin1');

  it('gives each head only its own bytes', () => {
    const p = new HeadBytes();
    expect(latin1(p.start().add('a').add('b').add('c').finish())).toBe('abc');
    expect(latin1(p.start().add('x').finish())).toBe('x');
    expect(p.start().finish().length).toBe(0);
    expect(latin1(p.start().add('y').add('z').finish())).toBe('yz');
  });

  it('never rewrites a finished head, across slabs and after a head larger than a slab', () => {
    const p = new HeadBytes();
    const heads: Array<[Buffer, string]> = [];
    // ~3 slabs of small heads, then one of 200 KB, then small ones again
    for (let i = 0; i < 1500; i++) {
      const text = `GET /${i} HTTP/1.1\r\nx-n: ${'v'.repeat(i % 90)}\r\n\r\n`;
      heads.push([p.start().add(`GET /${i} HTTP/1.1\r\n`).add('x-n: ').add('v'.repeat(i % 90)).add('\r\n\r\n').finish(), text]);
    }
    const big = 'b'.repeat(200 * 1024);
    heads.push([p.start().add('big: ').add(big).add('\r\n').finish(), `big: ${big}\r\n`]);
    for (let i = 0; i < 100; i++) heads.push([p.start().add(`after ${i}`).finish(), `after ${i}`]);
    for (const [bytes, text] of heads) expect(latin1(bytes)).toBe(text);
  });

  it('writes latin-1 characters as single bytes, by the loop and by the native write', () => {
    const p = new HeadBytes();
    const short = 'caf\u00e9 \u00ff\u0080';
    const long = `${short} ${'\u00e9'.repeat(100)}`;
    const head = p.start().add(short).add(long).finish();
    expect(head.length).toBe(short.length + long.length);
    expect(latin1(head)).toBe(short + long);
    expect(head[3]).toBe(0xe9);
  });

  it('starts clean after a build that threw half-way', () => {
    const p = new HeadBytes();
    const build = (fail: boolean): Buffer => {
      p.start().add('head ');
      if (fail) {
        for (let i = 0; i < 5; i++) p.add('junk');
        throw new Error('invalid header');
      }
      return p.add('ok').finish();
    };
    const before = p.start().add('earlier').finish();
    expect(() => build(true)).toThrow('invalid header');
    expect(latin1(build(false))).toBe('head ok');
    expect(latin1(before)).toBe('earlier');
  });
});
