/**
 * Header-name comparisons that allocate nothing. `String.prototype.toLowerCase` makes a new
 * string even when the name is already lower case (~30 bytes a call), and the proxy path lowered
 * some 15 names per request: ~8 % of what a proxied request allocated, and every allocated
 * byte brings the next young-generation collection closer (docs/performance.md).
 */

/** Lower-cased forms of names seen with capitals ("Host", "Content-Type"), reused. */
const LOWERED = new Map<string, string>();
/** Clients choose header names: the cache stops growing here, and later names are lowered afresh. */
const LOWERED_MAX = 1024;

/** `name` in lower case: `name` itself when it has no capitals. */
export function lowerName(name: string): string {
  const n = name.length;
  let i = 0;
  while (i < n) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) break;
    i++;
  }
  if (i === n) return name;
  let lower = LOWERED.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (LOWERED.size < LOWERED_MAX) LOWERED.set(name, lower);
  }
  return lower;
}

/**
 * Whether `name` is `lower` (lower-case letters, digits and '-') in any case. Setting bit 0x20
 * lowers A-Z and changes no character that could then equal a lower-case letter, digit or '-'
 * but for CR (to '-'), which is never part of a name.
 */
export function isName(name: string, lower: string): boolean {
  const n = lower.length;
  if (name.length !== n) return false;
  for (let i = 0; i < n; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}
