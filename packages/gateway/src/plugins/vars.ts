import type { RequestContext } from '../context';

const VAR_RE = /\$\{([a-zA-Z0-9_]+)\}|\$([a-zA-Z0-9_]+)/g;

/** True when a plugin string contains `$var` / `${var}` references (checked once, at compile). */
export function hasVars(template: string): boolean {
  VAR_RE.lastIndex = 0;
  return VAR_RE.test(template);
}

/**
 * Substitutes nginx variables (`$uri`, `${arg_id}`, `$http_x_user`) the way APISIX's
 * `core.utils.resolve_var` does: an unknown or absent variable becomes the empty string.
 */
export function resolveVars(template: string, ctx: RequestContext): string {
  return template.replace(VAR_RE, (_m, braced: string | undefined, bare: string | undefined) => ctx.lookupVar((braced ?? bare)!) ?? '');
}
