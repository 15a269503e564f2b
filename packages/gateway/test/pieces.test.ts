import { StringPieces } from '../src/h1/pieces';

/** h1/pieces.ts: the reusable builder of request and response heads. */
describe('StringPieces', () => {
  it('joins only the current pieces, after a longer head and after a very long one', () => {
    const p = new StringPieces();
    expect(p.start().add('a').add('b').add('c').join()).toBe('abc');
    expect(p.start().add('x').join()).toBe('x');
    expect(p.start().join()).toBe('');
    const many = Array.from({ length: 600 }, (_, i) => String(i % 10));
    for (const s of many) p.add(s);
    expect(p.join()).toBe(many.join(''));
    expect(p.start().add('y').add('z').join()).toBe('yz');
    expect(p.start().add('1').join()).toBe('1');
  });

  it('starts clean after a build that threw half-way', () => {
    const p = new StringPieces();
    const build = (fail: boolean): string => {
      p.start().add('head ');
      if (fail) {
        for (let i = 0; i < 5; i++) p.add('junk');
        throw new Error('invalid header');
      }
      return p.add('ok').join();
    };
    expect(() => build(true)).toThrow('invalid header');
    expect(build(false)).toBe('head ok');
  });
});
