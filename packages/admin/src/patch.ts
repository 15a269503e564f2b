import { isPlainObject } from '@portico/core';
import { badRequest } from './errors';

/**
 * The two PATCH forms of SPEC §3.3, as pure functions on JSON values. Neither modifies its
 * input. Keys are set with defineProperty semantics (`{...}` spread and `define`), never by
 * assignment, so a body key `__proto__` becomes an ordinary own property — which the schema
 * then refuses — instead of replacing an object's prototype.
 */

function define(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/**
 * JSON merge patch (RFC 7396): objects merge key by key, `null` deletes a key, anything else —
 * arrays included — replaces the whole value. (APISIX merges Lua tables, which also merges
 * arrays index by index; SPEC §3.3 asks for arrays to be replaced, as users expect.)
 */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else define(out, key, mergePatch(own(out, key), value));
  }
  return out;
}

/**
 * PATCH `/res/{id}/a/b`: sets field `a.b` of `root` to `value` (APISIX `core.table.patch`).
 * Missing objects along the way are created; a step through something that is not an object
 * is 400 `invalid sub-path: /a`, naming the path up to that step. Portico differs: a `null`
 * body removes the field, as `null` does in a merge patch.
 */
export function patchAtPath(root: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  if (path.some((seg) => seg === '')) throw badRequest(`invalid sub-path: /${path.join('/')}`);
  const step = (node: Record<string, unknown>, i: number): Record<string, unknown> => {
    const out = { ...node };
    const key = path[i];
    if (i === path.length - 1) {
      if (value === null) delete out[key];
      else define(out, key, value);
      return out;
    }
    const child = own(node, key) ?? {};
    if (!isPlainObject(child)) throw badRequest(`invalid sub-path: /${path.slice(0, i + 1).join('/')}`);
    define(out, key, step(child, i + 1));
    return out;
  };
  return step(root, 0);
}
