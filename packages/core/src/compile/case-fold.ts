/**
 * Rewrites a regular expression so that, without the `i` flag, it matches exactly what the
 * original matches with `i` (JavaScript semantics without the `u` flag). V8's linear-time
 * engine refuses `i`, so a case-insensitive pattern from configuration is turned into one with
 * explicit case classes: `abc` → `[aA][bB][cC]`, `[a-c]` → `[A-Ca-c]`.
 *
 * Case equivalence is the spec's Canonicalize for non-unicode ignoreCase: two code units are
 * equivalent when their single-code-unit upper cases are equal, except that a non-ASCII unit
 * never folds onto an ASCII one. The table is built once, on first use.
 */

let byCanon: Map<number, number[]> | undefined;
let canonOf: Uint16Array | undefined;

function canonicalize(cu: number): number {
  const upper = String.fromCharCode(cu).toUpperCase();
  if (upper.length !== 1) return cu;
  const c = upper.charCodeAt(0);
  return cu >= 128 && c < 128 ? cu : c;
}

function table(): { canon: Uint16Array; groups: Map<number, number[]> } {
  if (!canonOf || !byCanon) {
    canonOf = new Uint16Array(0x10000);
    byCanon = new Map();
    for (let cu = 0; cu < 0x10000; cu++) {
      const c = canonicalize(cu);
      canonOf[cu] = c;
      const g = byCanon.get(c);
      if (g) g.push(cu);
      else byCanon.set(c, [cu]);
    }
  }
  return { canon: canonOf, groups: byCanon };
}

/** Every code unit equivalent to `cu` under ignoreCase, `cu` included. */
function equivalents(cu: number): number[] {
  const { canon, groups } = table();
  return groups.get(canon[cu])!;
}

const hex4 = (cu: number) => '\\u' + cu.toString(16).padStart(4, '0');

/** A class source for a set of code units, as compact ranges. */
function classBody(units: Iterable<number>): string {
  const sorted = [...new Set(units)].sort((a, b) => a - b);
  let out = '';
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out += j === i ? hex4(sorted[i]) : j === i + 1 ? hex4(sorted[i]) + hex4(sorted[j]) : `${hex4(sorted[i])}-${hex4(sorted[j])}`;
    i = j + 1;
  }
  return out;
}

/** An atom matching `cu` in any case: the char itself when it has no other case. */
function foldedAtom(cu: number, original: string): string {
  const eq = equivalents(cu);
  return eq.length === 1 ? original : `[${classBody(eq)}]`;
}

export class CaseFoldError extends Error {
  override name = 'CaseFoldError';
}

const CLASS_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S']);
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };
const isHex = (s: string) => /^[0-9a-fA-F]+$/.test(s);
const isAsciiLetter = (c: string | undefined) => c !== undefined && /^[A-Za-z]$/.test(c);

/** A single code unit written by an escape, or a class escape kept as is. */
type Escaped = { unit: number; length: number } | { verbatim: string; length: number };

/**
 * The escape at `p[i]` (a backslash) inside a class: what it stands for and how many source
 * characters it takes. Annex B rules, as V8 applies them without the `u` flag.
 */
function classEscape(p: string, i: number): Escaped {
  const d = p[i + 1];
  if (CLASS_ESCAPES.has(d)) return { verbatim: '\\' + d, length: 2 };
  if (d === 'b') return { unit: 0x08, length: 2 };
  if (d in CONTROL_ESCAPES) return { unit: CONTROL_ESCAPES[d], length: 2 };
  if (d === 'c') {
    const l = p[i + 2];
    if (isAsciiLetter(l) || (l !== undefined && /^[0-9_]$/.test(l))) return { unit: l.charCodeAt(0) % 32, length: 3 };
    return { unit: 0x5c, length: 1 }; // a lone backslash; the `c` is read next as itself
  }
  if (d === 'x' && isHex(p.slice(i + 2, i + 4)) && p.slice(i + 2, i + 4).length === 2) return { unit: parseInt(p.slice(i + 2, i + 4), 16), length: 4 };
  if (d === 'u' && p.slice(i + 2, i + 6).length === 4 && isHex(p.slice(i + 2, i + 6))) return { unit: parseInt(p.slice(i + 2, i + 6), 16), length: 6 };
  if (d >= '0' && d <= '7') {
    // Legacy octal: up to three digits, value at most 0o377.
    let len = 1;
    while (len < 3 && p[i + 1 + len] >= '0' && p[i + 1 + len] <= '7' && parseInt(p.slice(i + 1, i + 2 + len), 8) <= 0o377) len++;
    return { unit: parseInt(p.slice(i + 1, i + 1 + len), 8), length: 1 + len };
  }
  return { unit: d.charCodeAt(0), length: 2 }; // identity escape
}

/** Parses the class at `p[i] === '['`; returns its folded source and the index after `]`. */
function foldClass(p: string, start: number): { source: string; end: number } {
  let i = start + 1;
  const negated = p[i] === '^';
  if (negated) i++;
  const units: number[] = [];
  const verbatim: string[] = [];
  const atom = (): Escaped | undefined => {
    if (i >= p.length || p[i] === ']') return undefined;
    const e: Escaped = p[i] === '\\' ? classEscape(p, i) : { unit: p.charCodeAt(i), length: 1 };
    i += e.length;
    return e;
  };
  for (;;) {
    const a = atom();
    if (!a) break;
    if (p[i] === '-' && p[i + 1] !== undefined && p[i + 1] !== ']') {
      const save = i;
      i++;
      const b = atom()!;
      if ('unit' in a && 'unit' in b) {
        for (let cu = a.unit; cu <= b.unit; cu++) units.push(...equivalents(cu));
        continue;
      }
      // A class escape at either end: Annex B reads the '-' as itself.
      i = save + 1;
      units.push(0x2d);
      if ('unit' in a) units.push(...equivalents(a.unit));
      else verbatim.push(a.verbatim);
      continue;
    }
    if ('unit' in a) units.push(...equivalents(a.unit));
    else verbatim.push(a.verbatim);
  }
  if (p[i] !== ']') throw new CaseFoldError('unterminated character class');
  return { source: `[${negated ? '^' : ''}${verbatim.join('')}${classBody(units)}]`, end: i + 1 };
}

/**
 * `pattern` rewritten to match case-insensitively without the `i` flag. The pattern must be a
 * valid JavaScript regex (compile it first). Backreferences and legacy octal escapes outside
 * classes are refused: which of the two `\1` is depends on the groups, and the linear-time
 * engine runs neither.
 */
export function foldCase(pattern: string): string {
  const p = pattern;
  const hasNamedGroups = /\(\?<[^=!]/.test(p);
  let out = '';
  let i = 0;
  while (i < p.length) {
    const c = p[i];
    if (c === '[') {
      const { source, end } = foldClass(p, i);
      out += source;
      i = end;
    } else if (c === '(' && p.startsWith('(?<', i) && p[i + 3] !== '=' && p[i + 3] !== '!') {
      // A group name is not text to match.
      const close = p.indexOf('>', i);
      out += p.slice(i, close + 1);
      i = close + 1;
    } else if (c === '\\') {
      const d = p[i + 1];
      if (d >= '1' && d <= '9') throw new CaseFoldError('backreferences and octal escapes are not supported');
      if (d === 'k' && hasNamedGroups) throw new CaseFoldError('backreferences and octal escapes are not supported');
      if (d === 'b' || d === 'B' || d === '0' || CLASS_ESCAPES.has(d) || d in CONTROL_ESCAPES) {
        out += '\\' + d;
        i += 2;
      } else if (d === 'c') {
        if (isAsciiLetter(p[i + 2])) {
          out += p.slice(i, i + 3);
          i += 3;
        } else {
          out += '\\\\'; // Annex B: a lone backslash, then `c` as itself
          i += 1;
        }
      } else {
        const e = classEscape(p, i);
        out += 'unit' in e ? foldedAtom(e.unit, p.slice(i, i + e.length)) : e.verbatim;
        i += e.length;
      }
    } else {
      out += foldedAtom(p.charCodeAt(i), c);
      i += 1;
    }
  }
  return out;
}
