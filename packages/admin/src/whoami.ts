import { AdminError, methodNotSupported } from './errors';
import type { Reply } from './handlers';

/**
 * `GET /apisix/admin/auth/whoami` (Portico's own): the role of the key the request carried, so
 * a client such as the dashboard can offer a read-only view to a viewer without probing with a
 * write. It passes the same key check as every admin call: a wrong key gets the usual 401.
 * `key_required` is false when the admin listener accepts requests without a key (loopback).
 */
export function whoami(rawPath: string, method: string, role: unknown, keyless: boolean): Reply {
  if (rawPath.replace(/\/$/, '') !== 'auth/whoami') throw new AdminError(404, { error_msg: '404 Route Not Found' });
  if (method !== 'GET') throw methodNotSupported(method, 'auth whoami');
  return { status: 200, body: { role: role === 'viewer' ? 'viewer' : 'admin', key_required: !keyless } };
}
