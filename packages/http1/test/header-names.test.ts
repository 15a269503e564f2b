import { isName, lowerName } from '../src/header-names';

/** h1/header-names.ts: header-name comparisons that allocate nothing. */
describe('header names', () => {
  it('lowerName gives a lower-case name back as it is, and lowers one with capitals', () => {
    const name = 'x-forwarded-for';
    expect(lowerName(name)).toBe(name);
    expect(lowerName('Content-Type')).toBe('content-type');
    expect(lowerName('Content-Type')).toBe('content-type'); // (from the cache)
    expect(lowerName('X-1_~')).toBe('x-1_~');
  });

  it('lowerName stays right once its cache is full', () => {
    for (let i = 0; i < 1500; i++) expect(lowerName(`X-Name-${i}`)).toBe(`x-name-${i}`);
    expect(lowerName('X-Late-Comer')).toBe('x-late-comer');
  });

  it('isName compares in any case, and only names of the same length and letters', () => {
    expect(isName('Content-Length', 'content-length')).toBe(true);
    expect(isName('CONTENT-LENGTH', 'content-length')).toBe(true);
    expect(isName('content-length', 'content-length')).toBe(true);
    expect(isName('content-lengt', 'content-length')).toBe(false);
    expect(isName('content-lengthx', 'content-length')).toBe(false);
    expect(isName('content_length', 'content-length')).toBe(false);
    // characters that bit 0x20 maps onto others ('@' -> '`', '[' -> '{', '^' -> '~') match nothing
    expect(isName('@ost', 'host')).toBe(false);
    expect(isName('Hos^', 'host')).toBe(false);
    expect(isName('date', 'host')).toBe(false);
  });
});
