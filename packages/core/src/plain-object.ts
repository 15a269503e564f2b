/** A JSON object: not null and not an array (what JSON.parse gives for `{...}`). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
