/**
 * Identifier rules (SPEC §3.2). The schemas in core say the same for values; these are for
 * path segments, which are checked before a store key is ever built from them.
 */

const ID_PATTERN = /^[a-zA-Z0-9._-]{1,64}$/;
const USERNAME_PATTERN = /^[a-zA-Z0-9_-]{1,256}$/;

export function isValidId(id: string | undefined): id is string {
  return id !== undefined && ID_PATTERN.test(id);
}

export function isValidUsername(name: string | undefined): name is string {
  return name !== undefined && USERNAME_PATTERN.test(name);
}

/**
 * An integer id is valid at ≥ 1 (core's schema); it must also be a safe integer, or its
 * string form (`1e+21`) would become a key no URL can name again.
 */
export function isUnsafeIntegerId(id: unknown): boolean {
  return typeof id === 'number' && Number.isInteger(id) && !Number.isSafeInteger(id);
}

/**
 * Whether a body `id` names the same item as the path id. APISIX compares `tostring()` forms,
 * so `1` and `"1"` agree. A non-scalar id never matches.
 */
export function sameId(bodyId: unknown, pathId: string, aliases: readonly string[] = []): boolean {
  if (typeof bodyId !== 'string' && typeof bodyId !== 'number') return false;
  const s = String(bodyId);
  return s === pathId || aliases.includes(s);
}

/** POST ids: 20 digits, zero-padded, so they also sort as strings (APISIX's format). */
export function formatGeneratedId(n: number): string {
  return String(n).padStart(20, '0');
}
