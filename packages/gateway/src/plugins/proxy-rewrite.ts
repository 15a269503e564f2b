import { PLUGIN_DEFINITIONS, compileConfigRegex } from '@portico/core';
import type { RequestContext } from '../server/request-context';
import type { Plugin } from './types';
import { hasVars, resolveVars, resolveVarsWithCaptures } from './vars';

type Value = { text: string; dynamic: boolean };

export interface ProxyRewriteConf {
  uri?: Value;
  regexUri: Array<{ re: RegExp; template: string }>;
  host?: string;
  method?: string;
  add: Array<[string, Value]>;
  set: Array<[string, Value]>;
  remove: string[];
}

function value(v: unknown): Value {
  const text = String(v);
  return { text, dynamic: hasVars(text) };
}

const resolve = (v: Value, ctx: RequestContext): string => (v.dynamic ? resolveVars(v.text, ctx) : v.text);

/** A header value: `$N` / `${N}` are captures of the regex_uri that matched, then `$var`s. */
const resolveHeader = (v: Value, ctx: RequestContext, captures: RegExpExecArray | undefined): string =>
  (v.dynamic ? resolveVarsWithCaptures(v.text, ctx, captures) : v.text);

/** `$1` / `${1}` in a regex_uri template, as ngx.re.sub expands them. */
function expand(template: string, groups: readonly (string | undefined)[]): string {
  return template.replace(/\$\{(\d+)\}|\$(\d+)/g, (_m, a: string | undefined, b: string | undefined) => groups[Number(a ?? b)] ?? '');
}

/**
 * proxy-rewrite: rewrites the upstream request's uri (`uri` with variables, else the first
 * matching `regex_uri` pair), Host (beats `pass_host`), method and headers. The client's query
 * string is kept.
 *
 * Header values may use `$var`, `${var}`, `${var ?? default}` and the captures of the matched
 * regex_uri pair: `$1`..`$9` (any `$N`; `$0` is the whole match), empty when `uri` is set or no
 * pair matched (APISIX 3.x `rewrite`: `resolve_var_with_captures` then `resolve_var`).
 * Header operations run in the order APISIX's code runs them: add, set, remove, so a header
 * both set and removed ends up removed. (APISIX's docs list "add > remove > set"; the
 * plugin's `rewrite` loops add, then set, then remove, and that is what clients observe.)
 */
export const proxyRewritePlugin: Plugin<ProxyRewriteConf> = {
  name: 'proxy-rewrite',
  priority: PLUGIN_DEFINITIONS['proxy-rewrite'].priority,
  shareable: true,

  compile(conf): ProxyRewriteConf {
    const regex = (conf.regex_uri as string[] | undefined) ?? [];
    const regexUri: ProxyRewriteConf['regexUri'] = [];
    // ngx.re.sub: first match only, PCRE syntax (the JS dialect covers what routes use).
    for (let i = 0; i + 1 < regex.length; i += 2) regexUri.push({ re: compileConfigRegex(regex[i]), template: regex[i + 1] });
    const headers = (conf.headers ?? {}) as Record<string, unknown>;
    const structured = ['add', 'set', 'remove'].some((k) => k in headers);
    const add: Array<[string, Value]> = [];
    const set: Array<[string, Value]> = [];
    const remove: string[] = [];
    if (structured) {
      for (const [k, v] of Object.entries((headers.add ?? {}) as object)) add.push([k, value(v)]);
      for (const [k, v] of Object.entries((headers.set ?? {}) as object)) set.push([k, value(v)]);
      remove.push(...((headers.remove ?? []) as string[]));
    } else {
      for (const [k, v] of Object.entries(headers)) {
        if (v === '') remove.push(k);
        else set.push([k, value(v)]);
      }
    }
    return {
      uri: conf.uri !== undefined ? value(conf.uri) : undefined,
      regexUri,
      host: conf.host as string | undefined,
      method: conf.method as string | undefined,
      add,
      set,
      remove,
    };
  },

  phases: {
    rewrite(conf, ctx) {
      let captures: RegExpExecArray | undefined;
      if (conf.uri) {
        ctx.upstreamUri = resolve(conf.uri, ctx);
      } else {
        for (const { re, template } of conf.regexUri) {
          const m = re.exec(ctx.path);
          if (!m) continue;
          captures = m;
          ctx.upstreamUri = ctx.path.slice(0, m.index) + expand(template, m) + ctx.path.slice(m.index + m[0].length);
          break;
        }
      }
      if (conf.host !== undefined) ctx.setUpstreamHeader('host', conf.host);
      if (conf.method !== undefined) ctx.upstreamMethod = conf.method;
      for (const [name, v] of conf.add) ctx.addUpstreamHeader(name, resolveHeader(v, ctx, captures));
      for (const [name, v] of conf.set) ctx.setUpstreamHeader(name, resolveHeader(v, ctx, captures));
      for (const name of conf.remove) ctx.setUpstreamHeader(name, null);
    },
  },
};
