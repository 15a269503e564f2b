import { HttpListener } from './http-listener';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../server/http-util';

/** What the control API reports; provided by the Gateway. */
export interface ControlSource {
  readonly ready: boolean;
  readonly appliedRevision: number;
  readonly connected: boolean;
  readonly resets: number;
  readonly lastError?: string;
  /** Keys in the store this node refuses, with the reason (each is also logged). */
  rejected?(): unknown[];
  /** Set when a local snapshot was loaded (SPEC §5.5): `stale` while serving from it. */
  readonly snapshot?: { stale: boolean; revision: number };
  /** Which HTTP/1.1 server and upstream client this node runs (own, or the node:http / undici fallbacks). */
  readonly http?: { server: string; upstream_client: string };
  routes(): unknown[];
  route(id: string): unknown | undefined;
  upstreams(): unknown[];
  /** Upstreams with health checks and their nodes' status (`GET /v1/healthcheck`). */
  healthchecks?(): unknown[];
}

/**
 * Control API (SPEC §11), meant for loopback: `GET /status/ready` (200 once the first load is
 * applied, else 503), `GET /v1/config` (applied revision, sync state, refused keys), `GET /v1/routes`,
 * `GET /v1/route/{id}`, `GET /v1/upstreams`.
 */
export class ControlServer extends HttpListener {
  constructor(private readonly source: ControlSource) {
    super();
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error_msg: 'method not allowed' });
    const src = this.source;
    if (path === '/status/ready') {
      if (src.ready) return sendJson(res, 200, { status: 'ok' });
      return sendJson(res, 503, { status: 'error', error: 'configuration not loaded yet' });
    }
    if (path === '/status') return sendJson(res, 200, { status: 'ok' });
    if (path === '/v1/config') {
      return sendJson(res, 200, {
        revision: src.appliedRevision,
        ready: src.ready,
        connected: src.connected,
        watch_resets: src.resets,
        ...(src.lastError && !src.connected ? { last_error: src.lastError } : {}),
        ...(src.snapshot ? { snapshot: { stale: src.snapshot.stale, revision: src.snapshot.revision } } : {}),
        // A value the Admin API would have refused (written straight to the store, or by an
        // older version) is not applied; say which and why, rather than only logging it.
        rejected: src.rejected?.() ?? [],
        ...(src.http ? { http: src.http } : {}),
      });
    }
    if (path === '/v1/routes') return sendJson(res, 200, src.routes());
    if (path.startsWith('/v1/route/')) {
      let id = path.slice('/v1/route/'.length);
      try {
        id = decodeURIComponent(id);
      } catch {
        // matched as sent
      }
      const r = src.route(id);
      return r ? sendJson(res, 200, r) : sendJson(res, 404, { error_msg: 'route not found' });
    }
    if (path === '/v1/upstreams') return sendJson(res, 200, src.upstreams());
    if (path === '/v1/healthcheck') return sendJson(res, 200, src.healthchecks?.() ?? []);
    sendJson(res, 404, { error_msg: 'not found' });
  }
}
