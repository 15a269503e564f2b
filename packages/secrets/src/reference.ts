/**
 * The grammar of secret references as they appear in configuration values:
 *
 *   $secret://<manager>/<conf-id>/<path>   e.g. $secret://aws/john/apisix-secrets/john-key-auth
 *   $env://NAME[/field]                    e.g. $env://JACK_KEY or $env://KEYS/jack
 *
 * <manager> selects the kind of secret manager ([a-z]+), <conf-id> the `/secrets/<manager>/<id>`
 * resource (SPEC §3.2 id rules), and <path> is handed to that manager's provider, which decides
 * how to read it (for AWS: secret name and optional JSON field, SPEC §9).
 */

export interface SecretManagerRef {
  kind: 'secret';
  manager: string;
  confId: string;
  /** everything after the conf id: one or more `/`-separated segments */
  path: string;
  raw: string;
}

export interface EnvRef {
  kind: 'env';
  name: string;
  field?: string;
  raw: string;
}

export type SecretRef = SecretManagerRef | EnvRef;

export const SECRET_PREFIX = '$secret://';
/** APISIX accepts both spellings of the environment prefix. */
const ENV_PREFIXES = ['$env://', '$ENV://'];

const MANAGER = '[a-z]+';
const CONF_ID = '[a-zA-Z0-9\\-_.]{1,64}';
/** Non-empty segments without whitespace; names may contain `/`, so the path is kept whole. */
const PATH = '[^/\\s]+(?:/[^/\\s]+)*';
const SECRET_PATTERN = new RegExp(`^\\$secret://(${MANAGER})/(${CONF_ID})/(${PATH})$`);
const ENV_PATTERN = /^\$(?:env|ENV):\/\/([A-Za-z_][A-Za-z0-9_]*)(?:\/([^/\s]+))?$/;

/** Parses a reference; undefined when `s` is not a well-formed reference. */
export function parseSecretRef(s: string): SecretRef | undefined {
  if (typeof s !== 'string') return undefined;
  const secret = SECRET_PATTERN.exec(s);
  if (secret) return { kind: 'secret', manager: secret[1], confId: secret[2], path: secret[3], raw: s };
  const env = ENV_PATTERN.exec(s);
  if (env) return env[2] === undefined ? { kind: 'env', name: env[1], raw: s } : { kind: 'env', name: env[1], field: env[2], raw: s };
  return undefined;
}

/**
 * True when `s` claims to be a reference (has a `$secret://` or `$env://` prefix), well-formed
 * or not. Callers deciding whether a configured value is a literal or must be resolved use
 * this, so that a malformed reference fails to resolve instead of becoming a literal key
 * (SPEC §8: the literal `$secret://...` string is never a valid key). Validation uses
 * parseSecretRef.
 */
export function isSecretRef(s: unknown): s is string {
  return typeof s === 'string' && (s.startsWith(SECRET_PREFIX) || ENV_PREFIXES.some((p) => s.startsWith(p)));
}
