import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { AdminError } from './errors';
import type { AdminKey, AdminRole } from './admin-keys';
import type { AddressSet } from './cidr';

export interface AuthOptions {
  keys: readonly AdminKey[];
  /** `deployment.admin.allow_admin`. */
  allow: AddressSet;
  /** True when keyless access applies (see keylessAllowed). */
  keyless: boolean;
}

interface KeyDigest {
  digest: Buffer;
  role: AdminRole;
}

/** Methods a viewer may use: reads only (HEAD is a GET without the body). */
const VIEWER_METHODS = new Set(['GET', 'HEAD']);

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function unauthorized(description: string): AdminError {
  return new AdminError(401, { error_msg: 'failed to check token', description });
}

/** The presented key: header `X-API-KEY`, then query `api_key` (SPEC §1); empty counts as absent. */
function presentedKey(header: string, query: unknown): string | undefined {
  if (header !== '') return header;
  const fromQuery = Array.isArray(query) ? query[0] : query;
  return typeof fromQuery === 'string' && fromQuery !== '' ? fromQuery : undefined;
}

/** The role a request was admitted with (set by authMiddleware; keyless access is admin). */
export function adminRoleOf(ctx: { state: Record<string, unknown> }): AdminRole | undefined {
  return ctx.state.adminRole as AdminRole | undefined;
}

/**
 * Network then key checks, before any handler runs (so an unauthenticated body is never read).
 * Keys are compared as SHA-256 digests with timingSafeEqual — equal lengths whatever the input —
 * and every configured key is compared, so timing reveals neither a key nor which one matched.
 */
export function authMiddleware(opts: AuthOptions): Middleware {
  const digests: KeyDigest[] = opts.keys.filter((k) => k.key !== '').map((k) => ({ digest: sha256(k.key), role: k.role }));
  return async (ctx, next) => {
    if (!opts.allow.has(ctx.req.socket.remoteAddress)) {
      throw new AdminError(403, { error_msg: '403 Forbidden' });
    }
    if (!opts.keyless) {
      const key = presentedKey(ctx.get('x-api-key'), ctx.query.api_key);
      if (key === undefined) throw unauthorized('missing apikey');
      const presented = sha256(key);
      let role: AdminRole | undefined;
      for (const k of digests) {
        if (timingSafeEqual(presented, k.digest) && role === undefined) role = k.role;
      }
      if (role === undefined) throw unauthorized('wrong apikey');
      if (role === 'viewer' && !VIEWER_METHODS.has(ctx.method)) throw unauthorized('invalid method for role viewer');
      ctx.state.adminRole = role;
    } else {
      ctx.state.adminRole = 'admin';
    }
    await next();
  };
}
