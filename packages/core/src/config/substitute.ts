import { ConfigError } from '../errors';

/**
 * Replaces `${{VAR}}` and `${{VAR:=default}}` in config.yaml text with environment values,
 * as APISIX does. A variable that is unset and has no default is an error naming it, so a
 * typo never silently becomes an empty string. Whole-line comments are left alone so that
 * documenting the syntax in config.yaml does not demand the variable.
 */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text
    .split('\n')
    .map((line) => (/^\s*#/.test(line) ? line : substituteLine(line, env)))
    .join('\n');
}

function substituteLine(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::=\s*([^}]*?))?\s*\}\}/g, (_m, name: string, def?: string) => {
    const value = env[name];
    if (value !== undefined) return value;
    if (def !== undefined) return def;
    throw new ConfigError(`config.yaml: environment variable ${name} is not set and has no default (write \${{${name}:=value}})`);
  });
}
