import type { Middleware } from 'koa';
import { Logger, StoreUnavailableError } from '@portico/core';

/**
 * An answer the admin API gives on purpose: status plus the exact JSON body clients match on
 * (SPEC §3.6). Handlers throw it; `errorMiddleware` turns it into the reply, so a handler never
 * has to unwind by hand.
 */
export class AdminError extends Error {
  override name = 'AdminError';
  /** A string body goes out as text/plain (APISIX's paging error is plain text). */
  constructor(readonly status: number, readonly body: Record<string, unknown> | string) {
    super(typeof body === 'string' ? body : typeof body.error_msg === 'string' ? body.error_msg : JSON.stringify(body));
  }
}

/** 400 `{"error_msg": msg}` — every rejected input. */
export function badRequest(msg: string): AdminError {
  return new AdminError(400, { error_msg: msg });
}

/** 404 `{"message":"Key not found"}` — APISIX's wording for a missing item (etcd's, really). */
export function keyNotFound(): AdminError {
  return new AdminError(404, { message: 'Key not found' });
}

/** 405 ``{"error_msg":"not supported `POST` method for consumer"}``. */
export function methodNotSupported(method: string, kind: string): AdminError {
  return new AdminError(405, { error_msg: `not supported \`${method}\` method for ${kind}` });
}

/**
 * Outermost middleware. Deliberate answers keep their status; an unreachable store is 503
 * with its reason (SPEC §3.6). Anything else is a bug in Portico: it is logged with its stack
 * and answered 500 — tests sweep malformed input to make sure no request can get here.
 */
export function errorMiddleware(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (err instanceof AdminError) {
        ctx.status = err.status;
        ctx.body = err.body;
      } else if (err instanceof StoreUnavailableError) {
        log.warn({ method: ctx.method, path: ctx.path, reason: err.message }, 'store unavailable');
        ctx.status = 503;
        ctx.body = { error_msg: err.message };
      } else {
        log.error({ err, method: ctx.method, path: ctx.path }, 'unexpected error in admin API');
        ctx.status = 500;
        ctx.body = { error_msg: 'internal error' };
      }
    }
  };
}
