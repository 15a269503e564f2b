/**
 * Test oracles for PATCH, written independently of the admin code so a test can predict what
 * a PATCH must produce rather than echo what the server says. Keys are defined, never assigned,
 * so a `__proto__` key in generated data stays data here too.
 */

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function put(obj: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function get(obj: Record<string, Json>, key: string): Json {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** RFC 7396, straight from the RFC's pseudocode. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const result: Record<string, Json> = isObject(target) ? JSON.parse(JSON.stringify(target)) : {};
  for (const name of Object.keys(patch)) {
    if (patch[name] === null) delete result[name];
    else put(result, name, applyMergePatch(get(result, name), patch[name]));
  }
  return result;
}

/** Sets `a/b/c` in a copy of `target`, creating objects on the way; null removes the field. */
export function setAtPath(target: Record<string, Json>, path: string, value: Json): Record<string, Json> {
  const copy = JSON.parse(JSON.stringify(target)) as Record<string, Json>;
  const segs = path.split('/');
  let cur = copy;
  for (const s of segs.slice(0, -1)) {
    if (!isObject(get(cur, s))) put(cur, s, {});
    cur = get(cur, s) as Record<string, Json>;
  }
  const last = segs[segs.length - 1];
  if (value === null) delete cur[last];
  else put(cur, last, value);
  return copy;
}

export function without<T extends Record<string, Json>>(value: T, keys: readonly string[]): T {
  const copy = { ...value };
  for (const k of keys) delete copy[k];
  return copy;
}
