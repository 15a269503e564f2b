import { PLUGIN_DEFINITIONS, compileExpr, type CompiledExpr } from '@portico/core';
import type { Plugin } from './types';
import { hasVars, resolveVars } from './vars';

export interface ResponseRewriteConf {
  status?: number;
  body?: string;
  /** Only rewrite when these route-style `vars` match the request. */
  when?: CompiledExpr;
  add: Array<[string, string]>;
  set: Array<[string, string]>;
  remove: string[];
}

/**
 * response-rewrite: replaces the status, the body (the upstream body is read and dropped) and
 * headers (add, set, remove, in that order, values may use `$var`) of the response — upstream
 * answers and plugin replies alike, as APISIX's header_filter/body_filter do.
 */
export const responseRewritePlugin: Plugin<ResponseRewriteConf> = {
  name: 'response-rewrite',
  priority: PLUGIN_DEFINITIONS['response-rewrite'].priority,
  shareable: true,

  compile(conf): ResponseRewriteConf {
    const headers = (conf.headers ?? {}) as Record<string, unknown>;
    const structured = ['add', 'set', 'remove'].some((k) => k in headers);
    const add: Array<[string, string]> = [];
    const set: Array<[string, string]> = [];
    const remove: string[] = [];
    if (structured) {
      // `add` entries are "Name: value" strings (APISIX)
      for (const line of (headers.add ?? []) as string[]) {
        const colon = line.indexOf(':');
        add.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
      }
      for (const [k, v] of Object.entries((headers.set ?? {}) as object)) set.push([k.toLowerCase(), String(v)]);
      for (const k of (headers.remove ?? []) as string[]) remove.push(k.toLowerCase());
    } else {
      for (const [k, v] of Object.entries(headers)) set.push([k.toLowerCase(), String(v)]);
    }
    let body = conf.body as string | undefined;
    if (body !== undefined && conf.body_base64 === true) body = Buffer.from(body, 'base64').toString('latin1');
    return {
      status: conf.status_code as number | undefined,
      body,
      when: conf.vars ? compileExpr(conf.vars) : undefined,
      add,
      set,
      remove,
    };
  },

  phases: {},

  headerFilter(conf, ctx, head) {
    if (conf.when && !conf.when(ctx)) return;
    if (conf.status !== undefined) head.status = conf.status;
    if (conf.body !== undefined) ctx.responseBody = conf.body;
    const h = head.headers;
    const value = (v: string) => (hasVars(v) ? resolveVars(v, ctx) : v);
    for (const [name, v] of conf.add) {
      const cur = h[name];
      h[name] = cur === undefined ? value(v) : [...(Array.isArray(cur) ? cur : [cur]), value(v)];
    }
    for (const [name, v] of conf.set) h[name] = value(v);
    for (const name of conf.remove) delete h[name];
  },
};
