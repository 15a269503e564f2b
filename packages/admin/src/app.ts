import Koa from 'koa';
import Router from '@koa/router';
import { ConfigStore, FieldCipher, Logger, PorticoConfig, componentLogger, normalizePrefix } from '@portico/core';
import { AdminKey, adminListenIp, keylessAllowed } from './admin-keys';
import { adminRoleOf, authMiddleware } from './auth';
import { clusterEndpoint } from './cluster';
import { readJsonBody } from './body';
import { AddressSet } from './cidr';
import { AdminError, errorMiddleware, methodNotSupported } from './errors';
import { Reply, ResourceHandlers } from './handlers';
import { META_ROOTS, dispatchMeta } from './meta';
import { Verb, decodeSegment, parseTarget } from './resources';
import { uiMiddleware } from './ui-assets';
import { whoami } from './whoami';

export interface AdminAppOptions {
  store: ConfigStore;
  config: PorticoConfig;
  /**
   * Keys from resolveAdminKeys. Default: the non-empty keys of
   * `deployment.admin.admin_key` as configured.
   */
  adminKeys?: AdminKey[];
  logger?: Logger;
  /**
   * Address the admin listener is bound to, when it differs from
   * `deployment.admin.admin_listen.ip`; it decides whether keyless access is allowed.
   */
  listenIp?: string;
  /** Unix-seconds clock for create_time/update_time (tests). */
  now?: () => number;
  /**
   * Field encryption at rest (SPEC §5.6), from core's `fieldCipherFromConfig`: sensitive
   * fields are encrypted on write and decrypted in replies. Absent: values are stored as sent.
   */
  cipher?: FieldCipher;
  /** The dashboard's built files (tests); default packages/ui/dist. */
  uiDir?: string;
}

const BASE = '/apisix/admin';

/**
 * The Admin API as a Koa app (SPEC §1, §3). Middleware order matters: headers, then the error
 * mapper (so every answer, even a 401, gets the JSON shape), then network and key checks, then
 * the router. Throws ConfigError for a malformed `allow_admin`.
 */
export function createAdminApp(opts: AdminAppOptions): Koa {
  const admin = opts.config.deployment.admin;
  const log = opts.logger ?? componentLogger('admin');
  const handlers = new ResourceHandlers({
    store: opts.store,
    prefix: normalizePrefix(opts.config.deployment.etcd.prefix),
    now: opts.now,
    cipher: opts.cipher,
    logger: log,
  });
  const keys = opts.adminKeys ?? (admin.admin_key ?? []).filter((k) => !!k.key);

  const app = new Koa();
  // Every request error is answered by errorMiddleware; what still reaches Koa is the socket
  // failing under a reply (a client that went away). Koa would print it to stderr by default.
  app.on('error', (err: Error) => log.debug({ err: err.message }, 'admin client connection error'));
  app.use(async (ctx, next) => {
    ctx.set('X-API-VERSION', 'v3');
    await next();
  });
  app.use(errorMiddleware(log));
  const allow = AddressSet.parse(admin.allow_admin ?? [], 'deployment.admin.allow_admin');
  const keyless = keylessAllowed(opts.config, opts.listenIp ?? adminListenIp(opts.config));
  // Before the key check: the page is public, the API calls it makes carry the key.
  if (admin.enable_admin_ui !== false) app.use(uiMiddleware({ dir: opts.uiDir, allow }));
  app.use(authMiddleware({ keys, allow, keyless }));

  const router = new Router();
  // One catch-all: the admin URL space is irregular (credentials under consumers, secrets
  // under a manager, sub-paths for PATCH), so resources.ts parses the raw path itself.
  // Fixed endpoints (plugins, schema, openapi.json) are recognised by their first segment.
  router.all(`${BASE}{/*path}`, async (ctx) => {
    const reply = await dispatch(handlers, ctx, keyless, opts.config);
    ctx.status = reply.status;
    ctx.body = reply.body;
    if (reply.revision !== undefined) {
      ctx.set('X-Config-Revision', String(reply.revision));
      // ctx.path, never ctx.url: the query may carry api_key. Values are never logged.
      log.info({ method: ctx.method, path: ctx.path, status: reply.status, revision: reply.revision }, 'admin write');
    }
  });
  app.use(router.routes());
  app.use(async (ctx) => {
    ctx.status = 404;
    ctx.body = { error_msg: '404 Route Not Found' };
  });
  return app;
}

async function dispatch(handlers: ResourceHandlers, ctx: Koa.Context, keyless: boolean, config: PorticoConfig): Promise<Reply> {
  const rawPath = ctx.path.slice(BASE.length + 1);
  // HEAD is a GET whose body Koa drops.
  const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
  const firstSegment = rawPath.split('/')[0];
  if (firstSegment === 'auth') return whoami(rawPath, method, adminRoleOf(ctx), keyless);
  if (firstSegment === 'cluster') {
    const segs = rawPath.split('/').slice(1).filter((s, i, all) => !(s === '' && i === all.length - 1));
    return clusterEndpoint(handlers.store, handlers.prefix, segs, method, ctx.query, config);
  }
  if (META_ROOTS.has(firstSegment)) {
    const segs = rawPath.split('/').filter((s, i, all) => !(s === '' && i === all.length - 1)).map((s) => decodeSegment(s) ?? s);
    return dispatchMeta(segs, method, ctx.query, () => readJsonBody(ctx.req));
  }
  // ctx.path is still percent-encoded: parseTarget splits before decoding.
  const target = parseTarget(rawPath);
  const verb = method as Verb;
  if (!target.def.verbs.has(verb)) throw methodNotSupported(ctx.method, target.def.kind);
  switch (verb) {
    case 'GET':
      // Anything but a known admin reads sensitive fields masked (SPEC §12).
      return handlers.get(target, ctx.query, { masked: adminRoleOf(ctx) !== 'admin' });
    case 'PUT':
      return handlers.put(target, await readJsonBody(ctx.req));
    case 'POST':
      return handlers.post(target, await readJsonBody(ctx.req));
    case 'PATCH':
      return handlers.patch(target, await readJsonBody(ctx.req));
    case 'DELETE':
      return handlers.delete(target, ctx.query.force === 'true');
    default:
      // A verb in a resource's table without a handler: a table/handler mismatch.
      throw new AdminError(405, { error_msg: `not supported \`${ctx.method}\` method for ${target.def.kind}` });
  }
}
