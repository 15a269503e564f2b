import fc from 'fast-check';
import { ConfigRegexError, compileConfigRegex } from '@portico/core';
import { foldCase } from '../src/compile/case-fold';

describe('compileConfigRegex', () => {
  it('compiles patterns the linear-time engine can run, to a plain RegExp that matches as before', () => {
    const re = compileConfigRegex('^/api/v\\d+/users/(\\d+)$');
    expect(re.exec('/api/v2/users/17')?.[1]).toBe('17');
    expect(re.test('/api/v2/users/x')).toBe(false);
    expect(compileConfigRegex('^/re/(a+)+$').test('/re/aaa')).toBe(true);
    expect(compileConfigRegex('(?<id>[0-9a-f]{16})').exec('x0123456789abcdef')?.groups?.id).toBe('0123456789abcdef');
  });

  it('answers a catastrophic pattern on hostile input at once instead of backtracking for minutes', () => {
    const re = compileConfigRegex('^/re/(a+)+$');
    // 2^40 backtracking steps without the fallback to the linear engine.
    expect(re.test('/re/' + 'a'.repeat(40) + '!')).toBe(false);
    expect(compileConfigRegex('^(\\w+\\s?)*$').test('a'.repeat(5000) + '!')).toBe(false);
  });

  it.each([
    ['(a)\\1', 'cannot run in linear time'],
    ['(?<n>a)\\k<n>', 'cannot run in linear time'],
    ['foo(?=bar)', 'cannot run in linear time'],
    ['a{17}', 'cannot run in linear time'],
    ['(a{4}){5}', 'cannot run in linear time'],
  ])('refuses %s (%s)', (pattern, reason) => {
    expect(() => compileConfigRegex(pattern)).toThrow(ConfigRegexError);
    expect(() => compileConfigRegex(pattern)).toThrow(`invalid regex "${pattern}": ${reason} (backreferences, lookahead/lookbehind and counted repetition above 16 are not supported)`);
  });

  // The linear engine of Node 22's and 24's V8 runs lookbehind and open counted repetition;
  // Node 20's refuses them. What this V8's linear engine runs is accepted and matches as before.
  it.each([
    ['(?<!x)y', 'ay', 'xy'],
    ['a{16,}', 'a'.repeat(16), 'a'.repeat(15)],
  ])('accepts %s exactly where this V8 runs it in linear time (Node 22 and later)', (pattern, matching, other) => {
    let linear = true;
    try {
      new RegExp(pattern, 'l');
    } catch {
      linear = false;
    }
    expect(linear).toBe(Number(process.versions.node.split('.')[0]) >= 22);
    if (!linear) {
      expect(() => compileConfigRegex(pattern)).toThrow(`invalid regex "${pattern}": cannot run in linear time`);
      return;
    }
    const re = compileConfigRegex(pattern);
    expect(re.test(matching)).toBe(true);
    expect(re.test(other)).toBe(false);
  });

  it('refuses a syntax error with V8\'s reason', () => {
    expect(() => compileConfigRegex('^(')).toThrow(new ConfigRegexError('invalid regex "^(": Unterminated group'));
    expect(() => compileConfigRegex('[z-a]')).toThrow(ConfigRegexError);
  });

  it('matches case-insensitively without the i flag (which the linear engine refuses)', () => {
    const re = compileConfigRegex('^Prod-[a-c]+\\x41$', 'i');
    expect(re.flags).toBe('');
    expect(re.test('pROD-AbC' + 'a')).toBe(true);
    expect(re.test('prod-d' + 'a')).toBe(false);
    expect(compileConfigRegex('^(?<Name>Ab)$', 'i').exec('aB')?.groups?.Name).toBe('aB');
    expect(() => compileConfigRegex('(a)\\1', 'i')).toThrow('invalid regex "(a)\\1": backreferences and octal escapes are not supported');
  });
});

describe('foldCase', () => {
  // Pieces of JavaScript (non-unicode) regex syntax that interact with case: letters, escapes
  // that stand for letters, classes with ranges and negation, group names, quantifiers.
  const piece = fc.constantFrom(
    'a', 'B', 'z', 'k', 'K', 'é', 'É', 'ß', 'µ', 'ſ', 'İ', 'ı', 'Σ', 'σ', 'ς', '1', '_', '-', '.', ' ',
    '\\x41', '\\x7a', '\\u00e9', '\\u212a', '\\cJ', '\\n', '\\d', '\\w', '\\W', '\\s', '\\b', '\\B', '\\.', '\\-', '\\q', '\\p', '\\k', '\\0',
    '[a-f]', '[^a-f]', '[A-Z0-9]', '[^\\W]', '[\\d-z]', '[K-c]', '[\\x41-\\x43]', '[\\101]', '[\\cJ\\b]', '[é-ü]', '[^]', '[]', '[-a]', '[a-]', '[\\u0100-\\u017f]',
    '*', '+', '?', '{2}', '{1,3}', '(', ')', '(?:', '(?<Gx>', '|', '^', '$',
  );
  const subject = fc.array(fc.constantFrom('a', 'A', 'b', 'B', 'k', 'K', '\u212a', 'z', 'Z', 'é', 'É', 'ß', 'ẞ', 'µ', 'μ', 'Μ', 'ſ', 's', 'S', 'İ', 'i', 'ı', 'I', 'Σ', 'σ', 'ς', 'ā', 'Ā', '1', '_', '-', '.', ' ', '\n', '\x08', '\\', 'q', 'Q', 'p', 'P', 'c', 'C', 'x', 'X', 'u'), { maxLength: 8 }).map((a) => a.join(''));

  it('gives the same matches as the i flag', () => {
    fc.assert(fc.property(fc.array(piece, { maxLength: 8 }), fc.array(subject, { minLength: 1, maxLength: 6 }), (pieces, subjects) => {
      const pattern = pieces.join('');
      let reference: RegExp;
      try {
        reference = new RegExp(pattern, 'i');
      } catch {
        return; // not a regex
      }
      const folded = new RegExp(foldCase(pattern));
      for (const s of subjects) {
        const a = reference.exec(s);
        const b = folded.exec(s);
        expect(b === null ? null : [...b]).toEqual(a === null ? null : [...a]);
        expect(b?.index).toBe(a?.index);
      }
    }), { numRuns: 1000, seed: 19 });
  });
});
