import type { RequestContext } from '../server/request-context';

/**
 * APISIX's `core.utils.resolve_var` pattern (apisix/core/utils.lua): `$name` (word characters
 * and dots) or `${ name }`, optionally `${name ?? default}`; a `$` preceded by a backslash is
 * left alone.
 */
const VAR_RE = /(?<!\\)\$(?:\{\s*([^}]+?)\s*\}|([\w.]+))/g;
const DEFAULT_SEP = /\s*\?\?\s*/;

/** True when a plugin string contains `$var` / `${var}` references (checked once, at compile). */
export function hasVars(template: string): boolean {
  VAR_RE.lastIndex = 0;
  return VAR_RE.test(template);
}

/**
 * Substitutes nginx variables (`$uri`, `${arg_id}`, `$http_x_user`) the way APISIX's
 * `core.utils.resolve_var` does: an unknown or absent variable becomes the empty string, or
 * the default after `??` (`${http_x_tenant ?? public}`).
 */
export function resolveVars(template: string, ctx: RequestContext): string {
  return template.replace(VAR_RE, (_m, braced: string | undefined, bare: string | undefined) => {
    if (bare !== undefined) return ctx.lookupVar(bare) ?? '';
    const segs = braced!.split(DEFAULT_SEP);
    return ctx.lookupVar(segs[0]) ?? segs[1] ?? '';
  });
}

/** A capture reference first (`$1`, `${1}`), else a variable, as the two APISIX passes see them. */
const CAPTURE_OR_VAR_RE = /(?<!\\)\$(?:\{?(\d+)\}?|\{\s*([^}]+?)\s*\}|([\w.]+))/g;

/**
 * proxy-rewrite header values: APISIX runs `resolve_var_with_captures` and then `resolve_var`
 * over the result. Done here in one pass over the template (captures take precedence at each
 * `$`, as the first pass does), so text inserted from a capture is never scanned again for
 * variables. That is the one difference from APISIX, and deliberate: a client must not be able
 * to make the gateway expand `$http_...` references it wrote into its own path.
 */
export function resolveVarsWithCaptures(template: string, ctx: RequestContext, captures: readonly (string | undefined)[] | undefined): string {
  return template.replace(CAPTURE_OR_VAR_RE, (_m, n: string | undefined, braced: string | undefined, bare: string | undefined) => {
    if (n !== undefined) return captures?.[Number(n)] ?? '';
    if (bare !== undefined) return ctx.lookupVar(bare) ?? '';
    const segs = braced!.split(DEFAULT_SEP);
    return ctx.lookupVar(segs[0]) ?? segs[1] ?? '';
  });
}
