/**
 * Reads the Admin API's validation messages into the field they name, so a form can show
 * the error beside that field:
 *   invalid configuration: property "upstream" validation failed: property "nodes" validation failed: <reason>
 *   failed to check the configuration of plugin key-auth err: property "header" validation failed: <reason>
 *   property "uri" is required
 * A path is the list of property names from the item's root ("plugins", "key-auth", "header").
 */
export interface FieldError {
  path: string[];
  reason: string;
}

export function parseFieldError(message: string): FieldError {
  let rest = message.replace(/^invalid configuration: /, '');
  const path: string[] = [];
  const plugin = /^failed to check the configuration of plugin (\S+) err: /.exec(rest);
  if (plugin) {
    path.push('plugins', plugin[1]);
    rest = rest.slice(plugin[0].length);
  }
  for (;;) {
    const m = /^property "([^"]+)" validation failed: /.exec(rest);
    if (!m) break;
    path.push(m[1]);
    rest = rest.slice(m[0].length);
  }
  const required = /^property "([^"]+)" is required/.exec(rest);
  if (required) path.push(required[1]);
  return { path, reason: rest };
}

/**
 * `can not delete this upstream, route [1] is still using it now` in plain words, with the
 * user's way out. Other messages pass through.
 */
export function explainDeleteError(message: string): string {
  const m = /^can not delete this (.+?), (.+?) \[(.+?)\] is still using it now/.exec(message);
  if (!m) return message;
  const subject = m[1].replace(/ directly$/, '');
  return `This ${subject} is still used by ${m[2]} ${m[3]}. Change or delete ${m[2]} ${m[3]} first, then delete the ${subject}.`;
}
